"""The shared counters and histograms the /metrics endpoint reads."""

from __future__ import annotations

import threading

from sluice.telemetry import Counter, Histogram, LabeledHistograms


def test_histogram_buckets_are_cumulative() -> None:
    hist = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 2.0):
        hist.observe(value)
    snap = hist.snapshot()
    assert snap.cumulative == (2, 3, 4)  # le=0.1, le=1.0, +Inf
    assert snap.count == 4 and abs(snap.total - 2.65) < 1e-9


def test_counter_under_threads() -> None:
    counter = Counter()
    threads = [
        threading.Thread(target=lambda: [counter.inc() for _ in range(1000)]) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.value == 4000


def test_labeled_histograms_and_switch() -> None:
    hists = LabeledHistograms((1.0,))
    hists.observe(("Search", "0"), 0.5)
    hists.observe(("Search", "100"), 0.5)
    hists.enabled = False
    hists.observe(("Search", "0"), 0.5)
    counts = {labels: snap.count for labels, snap in hists.items()}
    assert counts == {("Search", "0"): 1, ("Search", "100"): 1}
