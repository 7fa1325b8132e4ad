"""The pieces of live output that need no Ray: the registry's buffer, the line splitter."""

from __future__ import annotations

from ray_provider.client.live_log import MAX_LINE_CHARS, LiveLog
from ray_provider.runtime.live_output import coalesce
from ray_provider.runtime.output_buffer import OutputBuffer


def as_dict(read):
    return {
        "chunks": read.chunks,
        "cursor": read.cursor,
        "dropped": read.dropped,
        "closed": read.closed,
    }


def test_reads_resume_at_the_cursor_without_repeats_or_gaps():
    buffer = OutputBuffer()
    buffer.append([("stdout", "a\n"), ("stderr", "b\n")])
    first = buffer.read(0)
    assert first.chunks == [("stdout", "a\n"), ("stderr", "b\n")] and first.cursor == 4
    buffer.append([("stdout", "c\n")], close=True)
    second = buffer.read(first.cursor)
    assert second.chunks == [("stdout", "c\n")] and second.closed and second.dropped == 0
    assert buffer.read(second.cursor).chunks == []


def test_a_full_buffer_drops_the_oldest_and_counts_it():
    buffer = OutputBuffer(limit=10)
    buffer.append([("stdout", "0123456789"), ("stdout", "abcde")])
    read = buffer.read(0)
    assert read.chunks == [("stdout", "abcde")] and read.dropped == 10


def test_closed_is_reported_only_with_the_last_chunk_and_more_until_then():
    buffer = OutputBuffer()
    buffer.append([("stdout", "x" * 10), ("stdout", "y" * 10)], close=True)
    partial = buffer.read(0, max_chars=10)
    assert partial.chunks == [("stdout", "x" * 10)] and not partial.closed and partial.more
    rest = buffer.read(partial.cursor)
    assert rest.closed and not rest.more


def test_lines_are_whole_even_when_chunks_split_them():
    logged = []
    live = LiveLog(lambda stream, line: logged.append((stream, line)))
    live.feed({"chunks": [("stdout", "hel")], "cursor": 3, "dropped": 0, "closed": False})
    assert logged == []
    live.feed({"chunks": [("stdout", "lo\n\nnext")], "cursor": 11, "dropped": 0, "closed": True})
    assert logged == [("stdout", "hello"), ("stdout", ""), ("stdout", "next")]
    assert live.cursor == 11


def test_the_ray_task_is_announced_once_and_before_its_output():
    """A reader of the log finds the dashboard link above the first line the task printed."""
    logged = []
    live = LiveLog(
        lambda stream, line: logged.append(line),
        on_ray_task=lambda task_id: logged.append(f"task {task_id}"),
    )
    read = {"chunks": [("stdout", "round 1\n")], "cursor": 8, "dropped": 0, "closed": False}
    live.feed({**read, "ray_task_id": "abc"})
    live.feed({**read, "ray_task_id": "abc", "cursor": 16})
    assert logged == ["task abc", "round 1", "round 1"]


def test_an_endless_line_is_logged_in_pieces_not_held():
    logged = []
    live = LiveLog(lambda stream, line: logged.append(line))
    live.feed(
        {
            "chunks": [("stdout", "z" * (2 * MAX_LINE_CHARS + 1))],
            "cursor": 1,
            "dropped": 0,
            "closed": False,
        }
    )
    assert [len(x) for x in logged] == [MAX_LINE_CHARS, MAX_LINE_CHARS]
    live.finish()
    assert logged[-1] == "z"


def test_dropped_output_is_said_in_the_log():
    logged = []
    live = LiveLog(lambda stream, line: logged.append((stream, line)))
    live.feed({"chunks": [], "cursor": 50, "dropped": 50, "closed": False})
    assert logged == [("stderr", "[... 50 characters of output dropped: the log fell behind]")]


def test_neighbouring_writes_to_one_stream_are_joined_in_order():
    chunks = [("stdout", "a"), ("stdout", "\n"), ("stderr", "e"), ("stdout", "b")]
    assert coalesce(chunks) == [("stdout", "a\n"), ("stderr", "e"), ("stdout", "b")]


def test_output_the_registry_never_took_comes_back_in_the_report(monkeypatch):
    """A registry that fails mid-task: the callable goes on, and its output is not lost."""
    from ray_provider.runtime import live_output

    class Registry:
        class append_output:
            @staticmethod
            def remote(*args):
                return args

    def unreachable(*args, **kwargs):
        raise ConnectionError("registry gone")

    monkeypatch.setattr(live_output.ray, "get", unreachable)
    shipper = live_output.OutputShipper(Registry(), "k", "g")
    for stream, text in [("stdout", "a\n"), ("stderr", "e\n"), ("stdout", "b\n")]:
        shipper.write(stream, text)
    shipper.close()
    assert isinstance(shipper.failed, ConnectionError)
    assert (shipper.unsent("stdout"), shipper.unsent("stderr")) == ("a\nb\n", "e\n")


def test_a_backlog_behind_a_slow_registry_is_bounded_and_says_what_it_dropped(monkeypatch):
    """Nothing is sent while the callable prints (the shipper never wakes here): the writer
    keeps only the newest output, and the rest that goes out says how much was dropped."""
    from ray_provider.runtime import live_output

    monkeypatch.setattr(live_output, "MAX_BUFFERED_CHARS", 100)
    monkeypatch.setattr(live_output, "SHIP_INTERVAL_SECONDS", 3600)
    sent = []

    class Registry:
        class append_output:
            @staticmethod
            def remote(key, generation, chunks, close):
                return chunks, close

    monkeypatch.setattr(live_output.ray, "get", lambda call, timeout=None: sent.append(call))
    shipper = live_output.OutputShipper(Registry(), "k", "g")
    for i in range(100):
        shipper.write("stdout", f"line {i:03d}\n")  # 9 characters each
    shipper.close()
    ((chunks, closed),) = sent
    text = "".join(t for _, t in chunks)
    assert closed and "line 099\n" in text and "line 000\n" not in text
    assert "characters of output dropped: the log fell behind" in text
    assert len(text) < 100 + 80  # the bound, plus the marker


def test_a_long_run_of_one_stream_is_sent_in_chunks_the_registry_can_drop_one_by_one():
    chunks = [("stdout", "x" * 400)] * 10
    joined = coalesce(chunks, most=1000)
    assert [len(text) for _, text in joined] == [1200, 1200, 1200, 400]


def test_unread_is_what_no_read_has_returned():
    buffer = OutputBuffer(limit=100)
    buffer.append([("stdout", "a" * 30), ("stdout", "b" * 30)])
    assert buffer.unread() == 60
    read = buffer.read(0, max_chars=30)
    assert buffer.unread() == 30
    buffer.read(read.cursor)
    assert buffer.unread() == 0


def test_a_followed_file_is_read_from_where_the_task_began_and_keeps_split_characters(
    tmp_path,
):
    """The tail starts at the file's end when made, and a read that ends inside a UTF-8
    character gives it whole with the next read."""
    import os

    from ray_provider.runtime import output_tail

    path = tmp_path / "worker.out"
    with open(path, "a", encoding="utf-8", buffering=1) as stream:
        stream.write("before the task\n")
        tail = output_tail.tail_of(stream, "stdout")
        assert tail is not None
        text = "naïve café ünïcode\n"
        encoded = text.encode()
        cut = encoded.index("ï".encode()) + 1  # inside the two bytes of ï
        stream.flush()
        with open(path, "ab") as raw:
            raw.write(encoded[:cut])
        first = tail.read()
        with open(path, "ab") as raw:
            raw.write(encoded[cut:])
        assert first + tail.read() == text
        assert tail.read() == ""
        fd = tail._fd
        assert tail.finish() == ""
        try:
            os.fstat(fd)
        except OSError:
            pass
        else:
            raise AssertionError("the tail's own descriptor was left open")


def test_streams_that_are_not_files_are_not_followed():
    import io

    from ray_provider.runtime.output_tail import tail_of

    assert tail_of(io.StringIO(), "stdout") is None
    assert tail_of(object(), "stdout") is None


def test_a_stderr_write_ships_what_stdout_printed_before_it(tmp_path, monkeypatch):
    """Followed files: the stderr wrapper drains both files, so the order of the two streams
    is the order of the writes, not of the files."""
    from ray_provider.runtime import execute, live_output
    from ray_provider.runtime.output_tail import tail_of

    monkeypatch.setattr(live_output, "SHIP_INTERVAL_SECONDS", 3600)  # only the writes drain
    sent = []

    class Registry:
        class append_output:
            @staticmethod
            def remote(key, generation, chunks, close):
                return chunks

    monkeypatch.setattr(live_output.ray, "get", lambda call, timeout=None: sent.extend(call))
    with (
        open(tmp_path / "w.out", "a", encoding="utf-8", buffering=1) as out,
        open(tmp_path / "w.err", "a", encoding="utf-8", buffering=1) as err,
    ):
        shipper = live_output.OutputShipper(Registry(), "k", "g")
        shipper.follow(tail_of(out, "stdout"), tail_of(err, "stderr"))
        draining = execute._DrainingStream(err, shipper.drain)
        print("one", file=out)
        print("two", file=draining)
        print("three", file=out)
        print("four", file=draining)
        shipper.close()
    assert sent == [
        ("stdout", "one\n"),
        ("stderr", "two\n"),
        ("stdout", "three\n"),
        ("stderr", "four\n"),
    ]
