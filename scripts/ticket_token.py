#!/usr/bin/env python3
"""Computes a version 2 ticket token from formats §2b with Python's standard library only: an implementation
independent of Lotse's Swift code, for the test vectors of docs/handheld.md and the tests that check them.

Usage: ticket_token.py SIGNING_KEY_HEX KEY_ID DEVICE_NUMBER GENERATION TICKET_NUMBER [ISSUED_AT_UTC TBNR AMOUNT_CENTS]
(ISSUED_AT_UTC as 2026-03-14T09:30:00Z; leave the last three out for a stock code). Prints the device key (hex)
and the token, one per line.
"""
import base64, calendar, hashlib, hmac, struct, sys, time


def device_key(signing_key: bytes, number: int, generation: int) -> bytes:
    return hmac.new(signing_key, b"lotse-device-key" + struct.pack(">HB", number, generation), hashlib.sha256).digest()


def token(dkey: bytes, key_id: int, number: int, generation: int, ticket: int, minutes=0, tbnr=0, amount=0) -> str:
    body = struct.pack(">BBHBII", 2, key_id, number, generation, ticket, minutes) + tbnr.to_bytes(3, "big") + struct.pack(">H", amount)
    assert len(body) == 18
    mac = hmac.new(dkey, body, hashlib.sha256).digest()[:16]
    return base64.b32encode(body + mac).decode().rstrip("=")


def main(argv):
    key, key_id, number, generation, ticket = bytes.fromhex(argv[1]), int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5])
    dkey = device_key(key, number, generation)
    if len(argv) > 6:
        t = calendar.timegm(time.strptime(argv[6], "%Y-%m-%dT%H:%M:%SZ"))
        minutes = (t - calendar.timegm((2020, 1, 1, 0, 0, 0))) // 60
        print(dkey.hex())
        print(token(dkey, key_id, number, generation, ticket, minutes, int(argv[7]), int(argv[8])))
    else:
        print(dkey.hex())
        print(token(dkey, key_id, number, generation, ticket))


if __name__ == "__main__":
    main(sys.argv)
