"""Where a round's per-model evaluations run: `local` (this host's sandbox slots) or `ray` (worker nodes), both
behind `base.Executor`; the service picks one (`harness.round.service`)."""
