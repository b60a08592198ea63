"""The renewal loop's decisions (first_step, next_step), without Vault."""

import pytest

from jenkins_broker.vault.renewal import Loop, Step, Token, first_step, next_step

MIN = 0.2
MAX_RETRY = 30.0

APPROLE = Token(remaining=300.0, renewable=True, can_relogin=True)
TOKEN_AUTH = Token(remaining=300.0, renewable=True, can_relogin=False)


def after(outcome, token, loop=None):
    return next_step(loop or Loop(), outcome, token, min_interval=MIN, max_retry=MAX_RETRY)


# -- the first step ---------------------------------------------------------------


def test_a_token_that_never_expires_is_left_alone():
    step = first_step(Token(0.0, renewable=False, can_relogin=False), full_ttl=0, min_interval=MIN)
    assert (step.action, step.why) == ("stop", "never-expires")


def test_a_root_token_is_left_alone_with_approle_settings_too():
    step = first_step(Token(0.0, renewable=False, can_relogin=True), full_ttl=0, min_interval=MIN)
    assert (step.action, step.why) == ("stop", "never-expires")


def test_token_auth_with_a_token_that_cannot_be_renewed_stops_at_once():
    step = first_step(Token(60.0, renewable=False, can_relogin=False), full_ttl=60, min_interval=MIN)
    assert (step.action, step.why) == ("stop", "not-renewable")


def test_a_renewable_token_is_renewed_after_two_thirds_of_its_ttl():
    assert first_step(APPROLE, full_ttl=300, min_interval=MIN) == Step("renew", 200.0, Loop())


def test_a_token_that_cannot_be_renewed_is_replaced_by_a_login_with_approle():
    token = Token(90.0, renewable=False, can_relogin=True)
    assert first_step(token, full_ttl=90, min_interval=MIN) == Step("login", 60.0, Loop())


def test_the_first_wait_is_never_under_the_minimum_interval():
    token = Token(0.1, renewable=True, can_relogin=False)
    assert first_step(token, full_ttl=1, min_interval=MIN).wait == MIN


# -- after a success --------------------------------------------------------------


def test_success_resets_the_failures_and_renews_after_two_thirds_of_the_new_ttl():
    step = after("done", APPROLE, Loop(failures=3, need_login=True))
    assert step == Step("renew", 200.0, Loop())


def test_success_with_a_token_that_cannot_be_renewed_plans_a_login():
    step = after("done", Token(30.0, renewable=False, can_relogin=True))
    assert step == Step("login", 20.0, Loop())


def test_renewing_up_to_the_max_ttl_with_token_auth_stops():
    step = after("at-max-ttl", TOKEN_AUTH)
    assert (step.action, step.why) == ("stop", "max-ttl")


# -- refused: only a login can help ----------------------------------------------


def test_a_refused_token_with_token_auth_gives_up():
    step = after("refused", TOKEN_AUTH)
    assert (step.action, step.why) == ("stop", "refused")


def test_a_refused_renewal_logs_in_at_once():
    step = after("refused", APPROLE)
    assert step == Step("login", MIN, Loop(failures=1, need_login=True))


@pytest.mark.parametrize("failures, wait", [(1, 2.0), (2, 4.0), (4, 16.0), (5, MAX_RETRY), (9, MAX_RETRY)])
def test_a_refused_login_backs_off_up_to_the_retry_cap(failures, wait):
    step = after("refused", APPROLE, Loop(failures=failures, need_login=True))
    assert step == Step("login", wait, Loop(failures=failures + 1, need_login=True))


# -- Vault unreachable, sealed, 5xx -----------------------------------------------


@pytest.mark.parametrize("failures, wait", [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (5, MAX_RETRY)])
def test_a_failed_renewal_retries_with_a_backoff(failures, wait):
    step = after("failed", Token(1000.0, renewable=True, can_relogin=False), Loop(failures=failures))
    assert step == Step("renew", wait, Loop(failures=failures + 1))


def test_a_failed_renewal_retries_well_before_the_token_runs_out():
    step = after("failed", Token(9.0, renewable=True, can_relogin=True), Loop(failures=4))
    assert step == Step("renew", 3.0, Loop(failures=5))


def test_retries_near_expiry_are_not_under_the_minimum_interval():
    step = after("failed", Token(0.3, renewable=True, can_relogin=False), Loop(failures=2))
    assert step.wait == MIN


def test_an_expired_token_is_replaced_by_a_login_after_a_failure():
    step = after("failed", Token(-1.0, renewable=True, can_relogin=True), Loop(failures=2))
    assert step == Step("login", MIN, Loop(failures=3, need_login=True))


def test_an_expired_token_with_token_auth_keeps_trying_to_renew():
    step = after("failed", Token(-1.0, renewable=True, can_relogin=False))
    assert step == Step("renew", MIN, Loop(failures=1))


def test_a_failed_login_keeps_logging_in():
    step = after("failed", APPROLE, Loop(failures=1, need_login=True))
    assert step == Step("login", 2.0, Loop(failures=2, need_login=True))


def test_past_the_max_ttl_logs_in_at_once_the_first_time():
    step = after("past-max-ttl", APPROLE)
    assert step == Step("login", MIN, Loop(failures=1, need_login=True))


def test_past_the_max_ttl_again_backs_off():
    step = after("past-max-ttl", APPROLE, Loop(failures=2, need_login=True))
    assert step == Step("login", 4.0, Loop(failures=3, need_login=True))


def test_past_the_max_ttl_with_token_auth_gives_up():
    step = after("past-max-ttl", TOKEN_AUTH)
    assert (step.action, step.why) == ("stop", "max-ttl")


# -- an unexpected exception ------------------------------------------------------


def test_an_unexpected_error_retries_with_a_backoff_and_keeps_the_plan():
    step = after("crashed", APPROLE, Loop(failures=1, need_login=True))
    assert step == Step("login", 2.0, Loop(failures=2, need_login=True))


def test_an_unexpected_error_never_stops_the_loop_with_token_auth():
    step = after("crashed", Token(-5.0, renewable=True, can_relogin=False), Loop(failures=7))
    assert step == Step("renew", MIN, Loop(failures=8))


# -- a refusal seen elsewhere -----------------------------------------------------


def test_a_forced_step_logs_in_and_remembers_why():
    step = Step("renew", 200.0, Loop()).forced()
    assert step == Step("login", 200.0, Loop(need_login=True))


def test_a_refused_login_after_a_forced_step_backs_off():
    forced = Step("renew", 200.0, Loop()).forced()
    step = after("refused", APPROLE, forced.loop)
    assert step == Step("login", 1.0, Loop(failures=1, need_login=True))
