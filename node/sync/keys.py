"""The node rotates its own keys (R-PROV-4): a new Ed25519 signing key and a new age identity.

The change travels like everything else, as an up entry (`node_keys`), signed by the **old** key (central knows
the node by it) and carrying a proof signed by the **new** one. Entries after it are signed with the new key;
central switches keys at that entry. Requests go on being signed with the old key until central has receipted
the rotation, so no round is refused while it is on its way. The old keys stay in the key files, after the
current one (one per line): down entries central encrypted to the old recipient still open.

Crash safety: the new key files are written beside the current ones (``*.next``), then the entry and a note in
`meta` are committed in one transaction, then the files take the current names. `finish_interrupted_rotation`
completes or drops a rotation a crash cut short, by whether the transaction committed.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from node.meta import get_meta, set_meta
from node.runtime import NodeRuntime
from node.sync.log import CERTIFICATE_KEY, REVOKED_KEY, append_up_entry, receipted_head
from node.trust.identity import NEXT, ROTATION_KEY, keys_dir, take_next_keys
from node.trust.keyseal import Sealer, Unsealer, is_sealed
from protocol.keys import AgeIdentity, SigningKey, read_secret_file, write_secret_file
from protocol.trust import node_keys_proof

#: meta: the node key central has receipted a rotation to (what central knows this node by).
KNOWN_KEY = "node_key_known"


class NodeKeyRotationError(Exception):
    """The rotation cannot be done; the message says why (for the node admin)."""


def _write_key_file(path: Path, lines: list[str], sealer: Sealer | None) -> None:
    text = "\n".join(lines) + "\n"
    final_name = path.name.removesuffix(NEXT)
    write_secret_file(path, sealer.seal(text, name=final_name) if sealer else text)


async def rotate_node_keys(runtime: NodeRuntime, *, passphrase: str | None = None) -> int:
    """Make new node keys and queue their announcement; returns the seq of the `node_keys` entry."""
    identity = runtime.identity
    keys = identity.key_dir or keys_dir(runtime.data_dir)
    sign_path, age_path = keys / "node-sign.key", keys / "node.agekey"
    sealed_text = read_secret_file(sign_path)
    sealed = is_sealed(sealed_text)
    if sealed and not passphrase:
        raise NodeKeyRotationError("节点密钥已用口令封存：轮换密钥需要输入封存口令")
    if sealed and passphrase:
        # The new key files are sealed with this passphrase: it must be the one that opens the others, or the
        # node would not start again (one passphrase opens every key file).
        Unsealer(passphrase).unseal(sealed_text, name=sign_path.name)  # WrongPassphrase if it is not
    if runtime.sync_state.get("revoked"):
        raise NodeKeyRotationError("本节点已被县里吊销，不能再轮换密钥")
    async with runtime.db.read() as session:
        if await get_meta(session, ROTATION_KEY):
            raise NodeKeyRotationError("上一次密钥轮换尚未被县中心确认；请先同步，确认后再轮换")
        if await get_meta(session, REVOKED_KEY):
            raise NodeKeyRotationError("本节点已被县里吊销，不能再轮换密钥")
    sealer = Sealer(passphrase) if sealed and passphrase else None
    signing, ident = SigningKey.generate(), AgeIdentity.generate()
    old_signing = [identity.signing_key, *identity.previous_signing_keys]
    old_ages = [identity.age_identity, *identity.previous_age_identities]
    _write_key_file(
        sign_path.with_name(sign_path.name + NEXT),
        [signing.to_text()] + [k.to_text() for k in old_signing],
        sealer,
    )
    _write_key_file(
        age_path.with_name(age_path.name + NEXT), [ident.to_text()] + [k.to_text() for k in old_ages], sealer
    )
    async with runtime.db.write() as session:
        # Signed by the current (old) key: central verifies it with the key it knows this node by.
        seq = await _announce(session, runtime, signing, ident, signer=identity.signing_key)
    take_next_keys(keys)
    runtime.identity = replace(
        identity,
        signing_key=signing,
        age_identity=ident,
        previous_signing_keys=tuple(old_signing),
        previous_age_identities=tuple(old_ages),
        request_signing_key=identity.request_key,
    )
    return seq


async def _announce(
    session: Any, runtime: NodeRuntime, signing: SigningKey, ident: AgeIdentity, *, signer: SigningKey
) -> int:
    """Queue the `node_keys` entry naming `signing`/`ident`, signed by `signer` (the key central knows), and
    note the rotation until central receipts it; returns the entry's seq."""
    sign_text, recipient_text = signing.verify_key.to_text(), ident.recipient.to_text()
    payload = {
        "node_id": runtime.node_id,
        "sign_key": sign_text,
        "age_recipient": recipient_text,
        "proof": base64.b64encode(
            signing.sign(node_keys_proof(runtime.node_id, sign_text, recipient_text))
        ).decode(),
        "rotated_at": runtime.now_iso(),
    }
    row = await append_up_entry(session, runtime, kind="node_keys", payload=payload, signer=signer)
    note = {"seq": row.seq, "sign_key": sign_text, "age_recipient": recipient_text, "at": runtime.now_iso()}
    await set_meta(session, ROTATION_KEY, json.dumps(note))
    return row.seq


async def restore_rotation_state(runtime: NodeRuntime) -> None:
    """At start: while central has not receipted the rotation, requests are signed with the previous key.

    And when the database says central knows this node by an older key than the key files' current one (the
    data directory was restored from a backup taken before a rotation, the key directory was not), the current
    keys are announced again, so the node is never left signing with a key central has not heard of."""
    identity = runtime.identity
    async with runtime.db.read() as session:
        note = await get_meta(session, ROTATION_KEY)
        known = await get_meta(session, KNOWN_KEY)
        certificate = await get_meta(session, CERTIFICATE_KEY)
    if not note and not known and certificate:
        known = str(json.loads(certificate).get("sign_key", ""))
    if note and identity.previous_signing_keys:
        runtime.identity = replace(identity, request_signing_key=identity.previous_signing_keys[0])
    elif known and known != identity.sign_key.to_text():
        older = [k for k in identity.previous_signing_keys if k.verify_key.to_text() == known]
        if older:
            async with runtime.db.write() as session:
                await _announce(
                    session, runtime, identity.signing_key, identity.age_identity, signer=older[0]
                )
            runtime.identity = replace(identity, request_signing_key=older[0])
    await settle_rotation(runtime)


async def settle_rotation(runtime: NodeRuntime) -> bool:
    """Once central has receipted the `node_keys` entry, sign requests with the new key; True when it did."""
    async with runtime.db.read() as session:
        note = await get_meta(session, ROTATION_KEY)
        receipted = (await receipted_head(session))[0]
    if not note:
        return False
    stated: dict[str, Any] = json.loads(note)
    if receipted < int(stated["seq"]):
        return False
    async with runtime.db.write() as session:
        await set_meta(session, ROTATION_KEY, "")
        await set_meta(session, KNOWN_KEY, str(stated.get("sign_key", "")))
        await set_meta(session, "node_key_rotated_at", str(stated.get("at", "")))
    runtime.identity = replace(runtime.identity, request_signing_key=None)
    return True


async def central_knows(runtime: NodeRuntime, sign_key: str) -> bool:
    """Central's certificate (in its reconcile answer) names the key it knows this node by: when that is the
    current key, any rotation still noted as on its way has been taken (its receipt may have been lost with a
    restored database); True when that settled one."""
    identity = runtime.identity
    if sign_key != identity.sign_key.to_text():
        return False
    async with runtime.db.read() as session:
        note = await get_meta(session, ROTATION_KEY)
        known = await get_meta(session, KNOWN_KEY)
    if not note and identity.request_signing_key is None and known == sign_key:
        return False
    async with runtime.db.write() as session:
        await set_meta(session, ROTATION_KEY, "")
        await set_meta(session, KNOWN_KEY, sign_key)
    runtime.identity = replace(identity, request_signing_key=None)
    return bool(note)
