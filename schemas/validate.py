"""Validates SagaKit events against the schemas in this folder.

usage: python schemas/validate.py [--schemas DIR] FILE
  FILE holds one event envelope (JSON) per line. Each envelope is checked against envelope.schema.json and its
  payload against events/<event_type>.v<schema_version>.schema.json. Prints one JSON object per line:
  {"line": n, "valid": true|false, "errors": ["payload.quantity: '2' is not of type 'integer'", ...]}.
  Exits 1 if any event is invalid.
  --schemas DIR reads the schemas from DIR instead of this folder (tests use it to check an evolved contract).
Members a schema does not list are accepted: readers ignore them (README.md, "Compatibility").
Needs the `jsonschema` package (infra/dev setup installs it).
"""
import json
import pathlib
import sys

from jsonschema import Draft202012Validator, FormatChecker

HERE = pathlib.Path(__file__).resolve().parent


def validator(path):
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def where(root, error):
    """`payload`, or the member at fault: `payload.quantity`."""
    return ".".join([root] + [str(part) for part in error.absolute_path])


def main():
    args = sys.argv[1:]
    root = HERE
    if len(args) == 3 and args[0] == "--schemas":
        root = pathlib.Path(args[1]).resolve()
        args = args[2:]
    if len(args) != 1:
        sys.exit(__doc__)
    envelope = validator(root / "envelope.schema.json")
    payloads = {}
    ok = True
    for number, line in enumerate(pathlib.Path(args[0]).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        errors = []
        try:
            event = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"not JSON: {e}")
            event = None
        if event is not None:
            errors += [f"{where('envelope', e)}: {e.message}" for e in envelope.iter_errors(event)]
            if isinstance(event, dict) and not errors:
                kind, version = event["event_type"], event["schema_version"]
                path = root / "events" / f"{kind}.v{version}.schema.json"
                # An event type is a name, never a path or a glob: anything else names no schema.
                if not kind.isidentifier() or not kind.isascii():
                    errors.append(f"unknown event_type {kind!r}")
                elif not path.exists():
                    known = sorted(int(p.name.split(".v")[1].split(".")[0]) for p in (root / "events").glob(f"{kind}.v*.schema.json"))
                    if known:
                        errors.append(f"unsupported schema_version {version} for {kind} (schemas exist for {', '.join(map(str, known))})")
                    else:
                        errors.append(f"unknown event_type {kind}")
                else:
                    payloads.setdefault(path, validator(path))
                    errors += [f"{where('payload', e)}: {e.message}" for e in payloads[path].iter_errors(event["payload"])]
        ok = ok and not errors
        print(json.dumps({"line": number, "valid": not errors, "errors": errors}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
