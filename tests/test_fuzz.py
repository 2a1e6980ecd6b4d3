"""The fuzz run of `make fuzz`, small: 2,000 inputs of a fixed seed raise only `MatdiffError`, every call
ends within a second, and every printed answer reads back as itself (tests/fuzz.py draws the inputs:
random text, token soups, mutated corpus expressions, hostile numbers, large inputs, bad declarations).
A finding of the long run lands in tests/test_holds_up.py as a fixed example.
"""
import time

import pytest

import fuzz
import matdiff as md

# `make test` runs this module alone, after the others: it bounds the time of each call
pytestmark = pytest.mark.alone


def test_two_thousand_fuzzed_inputs_hold_up():
    # 3 s of CPU time, not the 1 s of `make fuzz`: a machine busy with the whole suite slows even CPU time (caches);
    # this catches what never ends or blows up, make fuzz holds the second
    run = fuzz.run(seed=17, count=2000, limit=3.0)
    assert run.inputs == 2000 and run.calls > 4000
    assert set(run.by_family) == set(fuzz.FAMILIES)
    assert not run.findings, run.summary() + "\n" + run.describe()


def test_an_input_is_the_same_for_the_same_seed_and_index():
    seeds = fuzz.load_seeds()
    first, again = fuzz.make_input(5, 123, seeds)[0], fuzz.make_input(5, 123, seeds)[0]
    assert (first.text, first.shapes, first.wrt) == (again.text, again.shapes, again.wrt)


def test_the_script_prints_a_summary_and_exits_zero_when_nothing_is_found(capsys):
    assert fuzz.main(["--count", "20", "--seed", "3", "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("fuzz: 20 inputs (seed 3),")


def _crash(*args, **kwargs):
    raise IndexError("tuple index out of range")


def _hang(*args, **kwargs):
    time.sleep(5)


@pytest.mark.parametrize("call, options, found", [
    (_crash, [], "1 exceptions that are not MatdiffError"),
    (_hang, ["--stop", "0.2"], "1 calls over 1 s of CPU time (1 stopped at 0.2 s)"),
])
def test_the_script_reports_a_finding_and_exits_one(capsys, monkeypatch, call, options, found):
    monkeypatch.setattr(md, "parse", call)
    assert fuzz.main(["--count", "1", "--seed", "3", "--quiet", *options]) == 1
    out = capsys.readouterr().out
    assert found in out.splitlines()[-1]
    assert "input 0 [" in out  # the input is shown, to run again with --only 0
