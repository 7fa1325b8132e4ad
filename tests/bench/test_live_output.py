"""The live-output benchmark's checks fail when lines are lost, reordered or cut.

No Ray: the output goes through the provider's real ``OutputBuffer`` (the registry's bounded
buffer) and ``LiveLog`` (the Airflow side's line splitter), the two parts between the shipper
and ``on_output``, so the checks see exactly what the benchmark's ``on_output`` would.
"""

from __future__ import annotations

from dataclasses import asdict

from bench.suites.live_output import (
    WIDTH,
    check_lines,
    check_long_lines,
    line_text,
    long_line_text,
)
from ray_provider.client.live_log import MAX_LINE_CHARS, LiveLog
from ray_provider.runtime.output_buffer import OutputBuffer


def through_the_provider(texts: list[str], limit: int, read_every: int) -> list[tuple[str, str]]:
    """Ship ``texts`` (one write each) into a buffer of ``limit`` characters, read by cursor."""
    arrived: list[tuple[str, str]] = []
    live = LiveLog(lambda stream, line: arrived.append((stream, line)))
    buffer = OutputBuffer(limit=limit)
    for index, text in enumerate(texts):
        buffer.append([("stdout", text)], close=index == len(texts) - 1)
        if index % read_every == read_every - 1:
            live.feed(asdict(buffer.read(live.cursor)))
    while not live.closed:
        live.feed(asdict(buffer.read(live.cursor)))
    return arrived


def test_lines_are_numbered_and_80_characters():
    assert len(line_text(0)) == len(line_text(10**8)) == WIDTH
    assert line_text(7) != line_text(8)
    assert len(long_line_text(3, 1_000_000)) == 1_000_000


def test_every_line_through_a_reader_that_keeps_up_passes():
    expected = [line_text(i) for i in range(2_000)]
    arrived = through_the_provider([line + "\n" for line in expected], 10**6, read_every=100)
    check = check_lines(arrived, expected)
    assert check["problem"] is None and check["arrived"] == 2_000
    assert check["last"] == expected[-1]


def test_a_reader_that_falls_behind_the_buffer_fails_loudly():
    expected = [line_text(i) for i in range(2_000)]
    # The buffer holds 100 lines; the reader comes after 1,000 writes.
    limit = 100 * (WIDTH + 1)
    arrived = through_the_provider([line + "\n" for line in expected], limit, read_every=1_000)
    check = check_lines(arrived, expected)
    assert check["problem"] is not None and "stderr" in check["problem"]
    assert "dropped" in check["problem"]


def test_a_missing_or_swapped_line_is_named():
    expected = [line_text(i) for i in range(10)]
    missing = [("stdout", line) for line in expected[:4] + expected[5:]]
    assert "line 4" in check_lines(missing, expected)["problem"]
    swapped = [("stdout", line) for line in [*expected[:2], expected[3], expected[2]]]
    swapped += [("stdout", line) for line in expected[4:]]
    assert "line 2" in check_lines(swapped, expected)["problem"]
    assert check_lines([("stdout", "extra")], [])["problem"] is not None


def test_long_lines_rebuild_from_their_pieces_and_a_cut_one_fails():
    expected = [long_line_text(i, 3 * MAX_LINE_CHARS + 5) for i in range(3)]
    arrived = through_the_provider([line + "\n" for line in expected], 10**7, read_every=1)
    check = check_long_lines(arrived, expected)
    assert check["problem"] is None and check["pieces"] == 12
    assert check["longest_piece"] == MAX_LINE_CHARS
    cut = arrived[:5] + arrived[6:]
    assert check_long_lines(cut, expected)["problem"] is not None
    merged = [("stdout", arrived[0][1] + arrived[1][1]), *arrived[2:]]
    assert "over MAX_LINE_CHARS" in check_long_lines(merged, expected)["problem"]
