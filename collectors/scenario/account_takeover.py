"""The CloudTrail incidents: failed console logins for alice from the attacker's address, then a
success; alice's console session creates IAM user backup-svc, which creates an access key and
downloads model checkpoints."""
from __future__ import annotations

from typing import Iterator

from collectors.scenario.cloudtrail import (ACCESS_KEYS, CHECKPOINT_FILES, PRINCIPAL_IDS, cloudtrail_record,
                                            console_login, iam_user, list_buckets, s3_get)
from collectors.scenario.platform import (ACCOUNT, ATTACKER_IP, BRUTE_USER, CLOUDTRAIL_FORMAT, JOB, NEW_PRINCIPAL,
                                          REGION, WEIGHTS_BUCKET)
from collectors.scenario.stream import RecordHeap, stream_rng
from collectors.scenario.timeline import iso

_UA_ATTACKER_BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"
_UA_ATTACKER_CLI = "aws-cli/2.13.0 Python/3.11.4 Linux/6.1.0-kali9-amd64 exe/x86_64.kali.2023 prompt/off"


def gen_account_takeover(seed: int, windows: dict) -> Iterator:
    if "console-bruteforce" not in windows:
        return
    out = RecordHeap()
    rng = stream_rng(seed, "incident/bruteforce")
    s, e = windows["console-bruteforce"]
    span = e - s
    fails = 24
    for i in range(fails):
        tt = s + int(i * (span - 30) / fails) + rng.randrange(0, 8)
        out.add(tt, CLOUDTRAIL_FORMAT, console_login(rng, tt, BRUTE_USER, ATTACKER_IP, _UA_ATTACKER_BROWSER, False))
    tt = e - 10
    out.add(tt, CLOUDTRAIL_FORMAT, console_login(rng, tt, BRUTE_USER, ATTACKER_IP, _UA_ATTACKER_BROWSER, True))
    xs, xe = windows["new-principal-exfiltration"]
    alice_console = iam_user(BRUTE_USER)
    alice_console["accessKeyId"] = "ASIA2XQ7MZ3ALICECON7"
    alice_console["sessionContext"] = {"attributes": {"creationDate": iso(e - 10), "mfaAuthenticated": "false"}}
    ua_console = "AWS Internal"
    tt = xs
    out.add(tt, CLOUDTRAIL_FORMAT,
            cloudtrail_record(
                rng, tt, alice_console, "iam.amazonaws.com", "CreateUser", ATTACKER_IP, ua_console,
                req={"userName": NEW_PRINCIPAL},
                resp={"user": {"path": "/", "userName": NEW_PRINCIPAL, "userId": PRINCIPAL_IDS[NEW_PRINCIPAL],
                               "arn": f"arn:aws:iam::{ACCOUNT}:user/{NEW_PRINCIPAL}",
                               "createDate": iso(tt).replace("T", " ").replace("Z", "")}},
                read_only=False))
    tt = xs + 40
    out.add(tt, CLOUDTRAIL_FORMAT,
            cloudtrail_record(
                rng, tt, alice_console, "iam.amazonaws.com", "AttachUserPolicy", ATTACKER_IP, ua_console,
                req={"userName": NEW_PRINCIPAL, "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"},
                resp=None, read_only=False))
    # the new principal bootstraps its own key (with a console-issued temporary key), then uses it
    new_ui = iam_user(NEW_PRINCIPAL, key=False)
    new_ui["accessKeyId"] = "ASIA2XQ7MZ3BKPTEMP01"
    tt = xs + 95
    out.add(tt, CLOUDTRAIL_FORMAT,
            cloudtrail_record(
                rng, tt, new_ui, "iam.amazonaws.com", "CreateAccessKey", ATTACKER_IP, _UA_ATTACKER_CLI,
                req={"userName": NEW_PRINCIPAL},
                resp={"accessKey": {"userName": NEW_PRINCIPAL, "accessKeyId": ACCESS_KEYS[NEW_PRINCIPAL],
                                    "status": "Active",
                                    "createDate": iso(tt).replace("T", " ").replace("Z", "")}},
                read_only=False))
    ui = iam_user(NEW_PRINCIPAL)
    tt = xs + 160
    out.add(tt, CLOUDTRAIL_FORMAT, list_buckets(rng, tt, ui, ATTACKER_IP, _UA_ATTACKER_CLI))
    tt = xs + 175
    out.add(tt, CLOUDTRAIL_FORMAT,
            cloudtrail_record(
                rng, tt, ui, "s3.amazonaws.com", "ListObjects", ATTACKER_IP, _UA_ATTACKER_CLI,
                req={"bucketName": WEIGHTS_BUCKET, "Host": f"{WEIGHTS_BUCKET}.s3.{REGION}.amazonaws.com",
                     "prefix": "checkpoints/", "list-type": "2"}, management=False))
    t = xs + 200
    n = 0
    steps = list(range(9000, 12001, 500))[::-1]
    while t < xe and n < 150:
        st = steps[(n // len(CHECKPOINT_FILES)) % len(steps)]
        fn = CHECKPOINT_FILES[n % len(CHECKPOINT_FILES)]
        size = rng.randrange(4_500_000_000, 5_000_000_000) if fn.startswith("model") else rng.randrange(2_000, 9_000_000_000)
        out.add(t, CLOUDTRAIL_FORMAT,
                s3_get(rng, t, ui, ATTACKER_IP, _UA_ATTACKER_CLI, WEIGHTS_BUCKET,
                       f"checkpoints/{JOB}/step-{st}/{fn}", size))
        n += 1
        t += rng.randrange(6, 14)
    yield from out.drain()
