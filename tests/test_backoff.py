from imagechat_widget.backoff import CAP_SECONDS, backoff_window, reconnect_delay


def test_window_doubles_from_half_a_second_to_the_cap():
    assert [backoff_window(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 20, 20]
    assert backoff_window(1000) == CAP_SECONDS


def test_delay_is_full_jitter_within_the_window():
    assert reconnect_delay(3, rng=lambda: 0.0) == 0.0
    assert reconnect_delay(3, rng=lambda: 0.5) == 2.0
    assert all(0 <= reconnect_delay(n) <= backoff_window(n) for n in range(20) for _ in range(20))
