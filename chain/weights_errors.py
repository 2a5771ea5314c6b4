"""The chain's weights errors, each named for the operator with what to do.

The subtensor pallet refuses a weights call with an error name (`SettingWeightsTooFast`, ...); the SDK carries it
as `bittensor.ChainError.name` with a coarse `ErrorCode`. A validator running for months needs a stable class it
can count and alert on (`weights/too-fast`) and one line that says what to do, not a pallet name to look up.
The SDK's own preflight raises some of the same refusals before signing, without a name but with an
`ErrorCode`; `CODE_CLASSES` names those.

Plain data plus one function, so both backends and the tests share the table.
"""

from __future__ import annotations

from chain.base import RateLimited, WeightsRejected

# chain error name -> (failure class, what to do)
WEIGHTS_ERRORS: dict[str, tuple[str, str]] = {
    "SettingWeightsTooFast": (
        "weights/too-fast",
        "weights were set less than WeightsSetRateLimit blocks ago; nothing to do: the next round sets them again",
    ),
    "CommittingWeightsTooFast": (
        "weights/too-fast",
        "a commit was made less than WeightsSetRateLimit blocks ago; nothing to do: the next round commits again",
    ),
    "TooManyUnrevealedCommits": (
        "weights/too-many-commits",
        "this hotkey already has the most unrevealed commits the chain keeps; wait for them to reveal "
        "(`harness status` shows them) or check that no other process commits with the same hotkey",
    ),
    "IncorrectWeightVersionKey": (
        "weights/version-key",
        "the subnet requires a newer weights version key (WeightsVersionKey); upgrade the validator or set "
        "chain.version_key to the subnet's key",
    ),
    "WeightVecLengthIsLow": (
        "weights/too-few",
        "fewer uids carry weight than the subnet's MinAllowedWeights; more models must score, or ask the subnet "
        "owner about the minimum",
    ),
    "CommitRevealEnabled": (
        "weights/commit-reveal-on",
        "the subnet switched to commit-reveal during the call; nothing to do: the next round commits",
    ),
    "CommitRevealDisabled": (
        "weights/commit-reveal-off",
        "the subnet switched commit-reveal off during the call; nothing to do: the next round sets weights plainly",
    ),
    "NeuronNoValidatorPermit": (
        "weights/no-permit",
        "the hotkey holds no validator permit on the subnet; add stake so it ranks among the validators, then "
        "wait for the next epoch's permits",
    ),
    "NotEnoughStakeToSetWeights": (
        "weights/stake-too-low",
        "the hotkey's stake is below the subnet's StakeThreshold; add stake to the validator hotkey",
    ),
    "HotKeyNotRegisteredInSubNet": (
        "weights/not-registered",
        "the validator hotkey holds no uid on the subnet; register it (or check chain.netuid and the wallet)",
    ),
    "MaxWeightExceeded": (
        "weights/max-weight",
        "one weight exceeds the subnet's MaxWeightsLimit after normalisation; report it (the SDK clips weights)",
    ),
    "UidVecContainInvalidOne": (
        "weights/invalid-uids",
        "a uid is not registered on the subnet (deregistered since the round began); the next round uses the "
        "new metagraph",
    ),
    "UidsLengthExceedUidsInSubNet": (
        "weights/invalid-uids",
        "more uids than neurons on the subnet; the next round uses the new metagraph",
    ),
    "DuplicateUids": ("weights/invalid", "a uid appears twice: a harness bug, report it"),
    "WeightVecNotEqualSize": ("weights/invalid", "uids and weights differ in length: a harness bug, report it"),
    "InvalidRevealRound": (
        "weights/reveal-round",
        "the commit's drand round is already stored on chain; check this host's clock (NTP)",
    ),
    "IncorrectCommitRevealVersion": (
        "weights/commit-reveal-version",
        "the chain expects another commit-reveal version (CommitRevealWeightsVersion); upgrade the bittensor SDK",
    ),
    "CommitPayloadTooLarge": (
        "weights/too-large",
        "the encrypted commit exceeds the subnet's payload limit; fewer uids must carry weight",
    ),
    "MechanismDoesNotExist": (
        "weights/mechanism",
        "chain.mechid names no mechanism of this subnet; check MechanismCountCurrent and chain.mechid",
    ),
    "SubnetNotExists": ("weights/no-subnet", "chain.netuid names no subnet; check chain.netuid and chain.network"),
    "SubNetworkDoesNotExist": (
        "weights/no-subnet",
        "chain.netuid names no subnet; check chain.netuid and chain.network",
    ),
}

# SDK preflight refusals (no chain error name) by `bittensor.ErrorCode` value -> (failure class, what to do)
CODE_CLASSES: dict[str, tuple[str, str]] = {
    "not_registered": WEIGHTS_ERRORS["HotKeyNotRegisteredInSubNet"],
    "not_authorized": WEIGHTS_ERRORS["NeuronNoValidatorPermit"],
}

REJECTED = "weights/rejected"


def weights_failure(
    message: str, name: str | None = None, code: str | None = None, remediation: str = ""
) -> WeightsRejected:
    """The named failure for a refused weights call: by chain error name, else by the SDK's error code, else
    `weights/rejected` with the SDK's remediation text."""
    message = " ".join(message.split())
    if name in ("SettingWeightsTooFast", "CommittingWeightsTooFast") or (name is None and code == "rate_limited"):
        advice = WEIGHTS_ERRORS[name or "SettingWeightsTooFast"][1]
        return RateLimited(message, -1, chain_error=name, advice=advice)
    if name in WEIGHTS_ERRORS:
        failure_class, advice = WEIGHTS_ERRORS[name]
    elif name is None and code == "invalid_argument" and "requires at least" in message:
        failure_class, advice = WEIGHTS_ERRORS["WeightVecLengthIsLow"]
    elif name is None and code in CODE_CLASSES:
        failure_class, advice = CODE_CLASSES[code]
    else:
        failure_class, advice = REJECTED, remediation
    return WeightsRejected(failure_class, message, advice, chain_error=name)
