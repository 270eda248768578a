"""summary.py: aggregates added chunk by chunk equal those of the whole run."""

from __future__ import annotations

from har_inventory.reports import SummaryAccumulator


def test_chunked_equals_whole_and_values(sample):
    frame = sample[2]
    whole, chunked = SummaryAccumulator(), SummaryAccumulator()
    whole.add(frame)
    for i in range(0, len(frame), 3):
        chunked.add(frame.iloc[i:i + 3])
    for acc in (whole, chunked):
        assert acc.status_counts() == {"ok": 4, "not_found": 1, "forbidden": 1, "invalid_input": 1, "failed": 1}
        # line 9 repeats line 2's request: counted as a row, not as a second version
        assert acc.quarantine() == {"quarantined": 1, "not_quarantined": 2, "unknown": 0}
        assert acc.quarantine_reasons() == [("CVE-2024-1\x0bcritical", 1)]
        assert acc.top_images_by_versions() == [("acc/reg", "team/img0", 1), ("acc/reg", "team/img1", 1),
                                                ("acc/reg", "team/img2", 1)]
        assert acc.top_images_by_size()[0] == ("acc/reg", "team/img1", 2 * 1024 ** 2)
        assert acc.top_images_by_downloads()[:2] == [("acc/reg", "team/img2", 20), ("acc/reg", "team/img1", 10)]
        assert acc.pushes_per_month() == [("2024-06", 1), ("2024-07", 1), ("2024-08", 1)]
        assert dict(acc.top_pushers()) == {"User 0": 2, '=HYPERLINK("http://evil.example","click")': 1}
    assert whole.line() == "8 rows: 4 ok, 1 not_found, 1 forbidden, 1 invalid_input, 1 failed; 1 quarantined"


def test_empty():
    acc = SummaryAccumulator()
    assert acc.status_counts() == {} and acc.top_images_by_size() == [] and acc.line().startswith("0 rows")
