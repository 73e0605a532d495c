import pytest

from lakehouse_lab.exercises import Problem, ____

q = Problem("q1", "Count to three.", check=lambda a: None if a == 3 else f"You gave {a}; count again.",
            hints=["One, two…", "…three."], solution="answer = 3")


def test_three_outcomes():
    assert q.check(____).status == "not attempted"
    wrong = q.check(2)
    assert wrong.status == "incorrect" and "You gave 2" in wrong.message and not wrong
    assert q.check(3).status == "correct" and q.check(3)


def test_a_checker_that_raises_is_an_incorrect_answer_with_the_reason():
    broken = Problem("q2", "x", check=lambda a: a.missing_attribute)
    outcome = broken.check(object())
    assert outcome.status == "incorrect" and "AttributeError" in outcome.message


def test_hints_come_in_steps_and_solution_shows_code():
    assert "One, two" in q.hint().message and "hint(2)" in q.hint().message
    assert "three" in q.hint(2).message and "hint(3)" not in q.hint(2).message
    assert q.solution().message == "answer = 3"


def test_strict_mode_raises_on_anything_but_correct(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_LAB_STRICT", "1")
    with pytest.raises(AssertionError, match="Incorrect"):
        q.check(4)
    with pytest.raises(AssertionError, match="Not attempted"):
        q.check(____)
    assert q.check(3)


def test_outcomes_render_as_html():
    assert "Correct" in q.check(3)._repr_html_() and "<pre" in q.solution()._repr_html_()


def test_check_reads_the_named_variable_of_the_caller():
    named = Problem("q3", "Set total to 10.", check=lambda a: None if a == 10 else f"total is {a}", var="total")
    total = ____  # the learner's starter
    assert named.check().status == "not attempted"
    total = 9
    assert "total is 9" in named.check().message
    total = 10
    assert named.check()
