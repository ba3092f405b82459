"""``flask schedule``: the periodic housekeeping runs each task and survives a broken one."""
from server import schedule


def test_schedule_once_runs_every_housekeeping_task(runner, demo):
    result = runner.invoke(args=["schedule", "--once"])
    assert result.exit_code == 0, result.output
    for _every, path, _why in schedule.TASKS:
        assert f"{path}: " in result.output
    assert "Error" not in result.output and "Exception" not in result.output


def test_a_failing_task_does_not_stop_the_others(app, demo, monkeypatch):
    monkeypatch.setattr(schedule, "TASKS", ((60, "server.schedule:no_such_task", "broken"),
                                            (60, "loops.escalation:sweep", "works")))
    last = {}
    done = schedule.run_due(last, 1000.0)
    assert isinstance(done["server.schedule:no_such_task"], AttributeError)
    assert done["loops.escalation:sweep"]["overdue"] == 0
    assert schedule.run_due(last, 1030.0) == {}  # not due again before its interval
