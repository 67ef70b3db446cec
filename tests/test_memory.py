"""The per-update memory meter measures the update's own peak, not the process's largest peak so far."""
import sys

import pytest
import torch

from benchmarks.harness import memory as memory_mod
from benchmarks.harness.memory import UpdateMemory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM reset is Linux-only")
def test_update_peak_is_the_updates_own_not_an_earlier_bigger_one():
    big = torch.ones(400, 2**18)  # 400 MB touched, then freed: the process peak stays above it
    del big
    meter = UpdateMemory(torch.device("cpu"))
    assert meter.per_update, meter.method
    meter.start()
    small = torch.ones(50, 2**18)  # 50 MB inside the "update"
    meter.stop()
    del small
    summary = meter.summary()
    assert 40 <= summary["update_growth_mb"]["max"] <= 120
    assert summary["process_peak_rss_mb"] >= summary["update_peak_rss_mb"]["max"] + 300
    assert summary["updates"] == 1 and summary["method"] == "VmHWM reset per update"


def test_without_a_reset_the_meter_says_it_reports_the_process_peak(monkeypatch):
    monkeypatch.setattr(memory_mod, "_reset_hwm", lambda: False)
    meter = UpdateMemory(torch.device("cpu"))
    meter.start()
    meter.stop()
    summary = meter.summary()
    assert "process peak" in summary["method"] and "update_growth_mb" not in summary
    assert summary["update_peak_rss_mb"]["max"] == pytest.approx(summary["process_peak_rss_mb"], rel=0.05)


def test_the_meter_keeps_the_process_peak_that_its_resets_erase_from_ru_maxrss():
    meter = UpdateMemory(torch.device("cpu"))
    big = torch.ones(300, 2**18)
    del big
    meter.start()
    meter.stop()
    assert meter.summary()["process_peak_rss_mb"] >= meter.summary()["update_peak_rss_mb"]["max"] + 250


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM reset and malloc_trim are Linux/glibc")
def test_sampled_updates_measure_their_own_need_from_a_trimmed_heap():
    meter = UpdateMemory(torch.device("cpu"), sample_every=3)
    for _ in range(4):  # samples updates 0, 1 and 3
        meter.start()
        buffers = [torch.ones(2**18) for _ in range(40)]  # 40 MB of 1 MB tensors: heap pages glibc keeps
        meter.stop()
        del buffers
    need = meter.summary()["update_need_mb"]
    assert need["sampled_updates"] == 3
    assert 30 <= need["median"] <= 80  # each sampled update re-faults its 40 MB after the trim


def test_memory_every_measures_the_first_two_then_every_kth_update_and_says_so(monkeypatch):
    reads = []
    monkeypatch.setattr(memory_mod, "process_peak_mb", lambda: reads.append(1) or 100.0)
    meter = UpdateMemory(torch.device("cpu"), every=4)
    reads.clear()
    logged = []
    for _ in range(10):  # updates 0, 1, 4 and 8 are measured
        meter.start()
        meter.stop()
        logged.append(meter.last_update())
    summary = meter.summary()
    assert summary["updates"] == 4 and summary["updates_run"] == 10 and summary["measured_every"] == 4
    assert [bool(entry) for entry in logged] == [True, True, False, False, True, False, False, False, True, False]
    assert len(reads) == 2 * 4 if meter.per_update else len(reads) == 4  # unmeasured updates read nothing
    every_update = UpdateMemory(torch.device("cpu"))
    for _ in range(3):
        every_update.start()
        every_update.stop()
    assert every_update.summary()["updates"] == 3 and "measured_every" not in every_update.summary()
