"""The engine's command receiver down while people act, then back with its first answers lost
(issue 13, point 5), the short version of ``bench/faults/engine_down.py`` against
litestar-workflows' real engine (examples/litestar_approval.py): a short backoff stands for
ten minutes of retries."""

from __future__ import annotations

from tests.faults.scenarios import load


def test_nothing_lost_in_order_and_nothing_applied_twice_when_the_engine_is_back() -> None:
    result = load("engine_down").run(workflows=8, down=5.0, backoff_base=0.2, backoff_max=1.0)
    assert result.problems == []
    assert result.commands == 16  # two per instance: claim + complete, or reassign + cancel
    assert result.attempts_while_down > result.commands // 2  # retried, not given up
    assert result.followers_attempted_while_down == 0
    assert result.dead == 0
    assert result.delivered == result.commands
    assert result.answers_lost >= 1  # the engine applied, the answer was lost, it came again
    assert result.engine_applied == result.commands
    assert result.engine_duplicates >= 1
    assert result.applied_twice == 0 and result.out_of_order == 0
    assert result.engine_states == {"completed": 6, "canceled": 2}


def test_a_command_is_dead_only_once_its_attempts_ran_out() -> None:
    result = load("engine_down").run(
        workflows=4, down=5.0, backoff_base=0.05, backoff_max=0.3, max_attempts=3
    )
    assert result.problems == []
    assert result.dead == result.commands  # each tried exactly three times, then dead
    assert result.attempts_while_down == 3 * result.commands
    assert result.engine_received == 0 and result.engine_applied == 0
