"""Asks a TURN relay for an allocation (aioice's TURN client, over UDP) with
one credential, and prints what the relay said as JSON:
{"allocated": true, "relayed": "IP:PORT"} or {"allocated": false, "error": "..."}.

Usage: python3 turn_allocate.py HOST PORT USERNAME PASSWORD
A PASSWORD of `sign:SECRET` is made from USERNAME the TURN REST API's way,
base64(HMAC-SHA1(SECRET, USERNAME)), as a server holding SECRET would.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import sys

from aioice import turn

HOST, PORT, USERNAME, PASSWORD = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if PASSWORD.startswith("sign:"):
    key = PASSWORD[len("sign:"):].encode()
    PASSWORD = base64.b64encode(hmac.new(key, USERNAME.encode(), hashlib.sha1).digest()).decode()


async def main():
    try:
        transport, _ = await asyncio.wait_for(
            turn.create_turn_endpoint(asyncio.DatagramProtocol, (HOST, PORT), USERNAME, PASSWORD), 10
        )
    except Exception as error:  # refused (401), or no answer
        print(json.dumps({"allocated": False, "error": f"{type(error).__name__}: {error}"}))
        return
    relayed = transport.get_extra_info("sockname")
    print(json.dumps({"allocated": True, "relayed": f"{relayed[0]}:{relayed[1]}"}))
    transport.close()


asyncio.run(main())
