"""Progress in logs and pipes: quiet for a quick step, a plain line now and then for a long one."""

from __future__ import annotations

import io

from photorecon.progress import LogLines, bar, clock


def test_a_quick_step_says_nothing_off_a_terminal(capsys) -> None:
    assert list(bar(range(5), desc="fill")) == [0, 1, 2, 3, 4]
    assert capsys.readouterr().err == ""


def test_a_long_step_prints_counts_rate_and_time_left() -> None:
    out = io.StringIO()
    lines = LogLines(total=10, desc="build", unit="img", every=0.0, stream=out)
    lines.update(4)
    lines.set_postfix(loss="0.1")
    lines.update(1)
    lines.close()
    said = out.getvalue().splitlines()
    assert len(said) == 3
    assert said[0].startswith("build: 4/10 img (40%), ") and "left" in said[0]
    assert said[1].startswith("build: 5/10 img (50%)") and said[1].endswith("loss 0.1")
    assert "left" not in said[2]  # the last line: done


def test_time_left_follows_the_share_when_time_bounds_the_step() -> None:
    out = io.StringIO()
    lines = LogLines(total=1_000_000, desc="train", unit="step", every=0.0, stream=out)
    lines.started -= 60.0  # a minute in, and a quarter of max_minutes gone
    lines.set_share(0.25)
    lines.update(10)
    assert "about 3:00 left" in out.getvalue()


def test_a_time_bounded_run_shows_its_clock_not_a_share_of_a_million_steps() -> None:
    out = io.StringIO()
    lines = LogLines(total=1_000_000, desc="train", unit="step", every=0.0, stream=out)
    lines.set_time_limit(12.0, 60.0)
    lines.update(466)
    said = out.getvalue()
    assert said.startswith("train: 466 step, ") and "12 s of 1:00 (20%)" in said
    assert "1,000,000" not in said and "(0%)" not in said


def test_clock() -> None:
    assert [clock(5), clock(125), clock(3723)] == ["5 s", "2:05", "1:02:03"]
