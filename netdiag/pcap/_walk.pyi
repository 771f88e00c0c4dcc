from typing_extensions import Buffer

def walk(
    buf: Buffer, start: int, fmt: int, big_endian: bool, max_records: int, /
) -> tuple[bytes, int, int, int]: ...
