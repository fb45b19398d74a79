#!/usr/bin/env python3
"""A third-party S3 client (boto3) for the tests of ftpshd on object
storage: puts objects the way another tool would (no directory markers),
reads them back, and lists a bucket, so that a test checks what ftpshd
stored without going through ftpshd.

Credentials and endpoint come from the environment: S3_ENDPOINT,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.

usage:
  s3_objects.py BUCKET put KEY=FILE...   upload each FILE as KEY
  s3_objects.py BUCKET get KEY FILE      download KEY into FILE
  s3_objects.py BUCKET list [PREFIX]     every key below PREFIX with its
                                         size, "KEY SIZE" per line, sorted
"""

import os
import sys

import boto3


def main():
    bucket, cmd, *args = sys.argv[1:]
    s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1")
    if cmd == "put":
        for pair in args:
            key, path = pair.split("=", 1)
            s3.upload_file(path, bucket, key)
    elif cmd == "get":
        key, path = args
        s3.download_file(bucket, key, path)
    elif cmd == "list":
        prefix = args[0] if args else ""
        rows = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            rows += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
        for key, size in sorted(rows):
            print(f"{key} {size}")
    else:
        raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()
