"""Topic administration for infra/dev, through confluent-kafka (an independent client, not the project's own).

usage: topics.py BOOTSTRAP create --partitions N [--timeout S] TOPIC...
       topics.py BOOTSTRAP list
"""
import argparse
import sys
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic


def wait_for_metadata(admin, deadline):
    last = None
    while time.monotonic() < deadline:
        try:
            return admin.list_topics(timeout=2)
        except KafkaException as e:
            last = e
            time.sleep(0.2)
    sys.exit(f"topics: the broker did not answer metadata requests: {last}")


def create(admin, topics, partitions, deadline):
    wait_for_metadata(admin, deadline)
    futures = admin.create_topics([NewTopic(t, partitions, 1) for t in topics], operation_timeout=10)
    for topic, future in futures.items():
        try:
            future.result()
        except KafkaException as e:
            if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                sys.exit(f"topics: cannot create {topic}: {e.args[0].str()}")
    metadata = wait_for_metadata(admin, deadline)
    for topic in topics:
        have = len(metadata.topics[topic].partitions) if topic in metadata.topics else 0
        if have == 0:
            sys.exit(f"topics: {topic} is missing after creation")
        if have != partitions:
            print(f"topics: {topic} has {have} partitions (wanted {partitions}); left as it is", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create")
    c.add_argument("--partitions", type=int, default=3)
    c.add_argument("--timeout", type=float, default=30)
    c.add_argument("topics", nargs="+")
    sub.add_parser("list")
    args = parser.parse_args()
    admin = AdminClient({"bootstrap.servers": args.bootstrap, "log_level": 3})
    if args.command == "create":
        create(admin, args.topics, args.partitions, time.monotonic() + args.timeout)
    else:
        metadata = wait_for_metadata(admin, time.monotonic() + 10)
        for name, topic in sorted(metadata.topics.items()):
            print(f"{name}\t{len(topic.partitions)}")


if __name__ == "__main__":
    main()
