"""Each automation replayed twice, as the working tree has it and as it is deployed, and the two compared."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from compiler.commands.plan.observed import ObservedState
from compiler.commands.replay.deployed import NOT_DEPLOYED, Deployed, deployed_version, rule_key
from compiler.commands.replay.evaluate import SHOWN, Firing, Outcome, replay_automation
from compiler.commands.replay.history import History
from compiler.language.catalog import LoadedAutomation

__all__ = ["DIFFERS", "SAME", "UNKNOWN_VERDICT", "Replayed", "replay_all"]

SAME, DIFFERS, UNKNOWN_VERDICT = "same", "differs", "unknown"


@dataclass
class Replayed:
    """One automation: the working tree's outcome, the deployed version's, and the runs that really happened."""

    loaded: LoadedAutomation
    working: Outcome
    deployed: Deployed
    deployed_outcome: Outcome | None  # None: the deployed version could not be replayed
    runs: Counter[str] = field(default_factory=Counter)

    @property
    def name(self) -> str:
        return self.loaded.automation.name

    def differences(self) -> tuple[list[Firing], list[Firing]]:
        """Firings only the working tree makes, and those only the deployed version made (in time order)."""
        if self.deployed_outcome is None:
            return [], []
        working, deployed = set(self.working.keys), set(self.deployed_outcome.keys)
        return (
            [f for f in self.working.firings if f.key not in deployed],
            [f for f in self.deployed_outcome.firings if f.key not in working],
        )

    @property
    def verdict(self) -> str:
        """``same`` when it would have fired on exactly the occurrences the deployed version fired on."""
        if self.deployed_outcome is None:
            return UNKNOWN_VERDICT
        return SAME if self.working.keys == self.deployed_outcome.keys else DIFFERS


def _deployed_outcome(loaded: LoadedAutomation, deployed: Deployed, working: Outcome, history: History) -> Outcome | None:
    if deployed.loaded is None:
        nothing_recorded = loaded.automation.trigger.type == "condition" and not history.checks.get(loaded.automation.name)
        # Not deployed: it fired nothing. A condition with no recorded check: nothing to replay either way.
        return Outcome() if deployed.source == NOT_DEPLOYED or nothing_recorded else None
    if rule_key(deployed.loaded) == rule_key(loaded):
        return working  # the same trigger and cooldown fire on the same occurrences
    return replay_automation(deployed.loaded, history, shown=0)


def replay_all(
    selected: Sequence[LoadedAutomation],
    history: History,
    observed: ObservedState,
    runs: Mapping[str, Counter[str]],
    *,
    shown: int = SHOWN,
) -> list[Replayed]:
    """Every selected automation, in name order."""
    results = []
    for loaded in sorted(selected, key=lambda item: item.automation.name):
        name = loaded.automation.name
        working = replay_automation(loaded, history, shown=shown)
        deployed = deployed_version(loaded, observed, history.checks.get(name, []))
        results.append(Replayed(loaded, working, deployed, _deployed_outcome(loaded, deployed, working, history), Counter(runs.get(name, {}))))
    return results
