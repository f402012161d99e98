"""(schema, instance) pairs for the schema differential test, each with the
verdict of the Python `jsonschema` package (Draft 2020-12, no format
checking). Hand-written edge cases come first, then COUNT pairs from a fixed
seed: random schemas of small depth over the subset the gateway's validator
supports, and instances made to fit each schema, half of them then broken a
little (a wrong type, 1 against 1.0, a string one code point too long, an
extra property, a number on a bound, a repeated item). Every schema passes
`Draft202012Validator.check_schema`.

The subset: boolean schemas; type; properties, required,
additionalProperties; enum, const; minimum, maximum, exclusiveMinimum,
exclusiveMaximum; minLength, maxLength; minItems, maxItems, uniqueItems,
minProperties, maxProperties; items, prefixItems; anyOf, oneOf, allOf, not;
local $ref into $defs or to the root; and annotations. A $ref that stays at
the same place in the instance only points forward (root to d0, d0 to d1,
never back), so no schema has a cycle that does not descend; a $ref under
properties, items, prefixItems or additionalProperties may point anywhere,
the root included (a tree).

Writes one JSON line per pair: {"case", "schema", "instance", "valid"}.
Usage: schema_cases.py [COUNT [SEED]]
       schema_cases.py --judge    reads {"schema", "instance"} lines on stdin
                                  and writes them back with "valid"
"""

import copy
import json
import random
import sys

from jsonschema import Draft202012Validator

COUNT = 3000
SEED = 2020_12
INSTANCES_PER_SCHEMA = 3
SCHEMA_DEPTH = 3
MAX_NESTING = 16  # of a schema's JSON text: well inside the validator's cap
INSTANCE_DEPTH = 5

TYPES = ["null", "boolean", "object", "array", "number", "string", "integer"]
# Single code points: ASCII, Latin-1, a combining accent, CJK, and two astral
# characters (one UTF-16 surrogate pair each, one code point each).
CHARS = ["a", "b", "z", "0", " ", "é", "ß", "\u0301", "中", "😀", "𝄞"]
ASTRAL = ["😀", "𝄞"]
KEYS = ["a", "b", "c", "id", "name", "x y", "a/b", "~t", "é", "😀"]
BOUNDS = [-3, -1, 0, 1, 2, 3, 5, 10, -1.5, 0.5, 2.5, 1.0, 3.0]
VALUES = [
    None, True, False, 0, 1, 1.0, -1, 2, 2.5, -0.5, "", "a", "1", "true", "😀",
    [], [1], [1.0, "a"], [True], {}, {"a": 1}, {"a": [True, None]},
]
ANNOTATIONS = {
    "title": "a title",
    "description": "what it is",
    "default": 7,
    "examples": [1, "x"],
    "$comment": "for people",
    "format": "email",
    "readOnly": True,
    "deprecated": False,
}


VALIDATORS = {}


def judge(schema, instance):
    # The generator repeats each schema for several instances: check it once.
    key = json.dumps(schema, sort_keys=True)
    if key not in VALIDATORS:
        Draft202012Validator.check_schema(schema)
        VALIDATORS[key] = Draft202012Validator(schema)
    return VALIDATORS[key].is_valid(instance)


def line(case, schema, instance):
    # What the other validators read is the JSON text, so judge that.
    schema = json.loads(json.dumps(schema))
    instance = json.loads(json.dumps(instance))
    valid = judge(schema, instance)
    return json.dumps(
        {"case": case, "schema": schema, "instance": instance, "valid": valid},
        ensure_ascii=False,
    )


TREE = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "children": {"type": "array", "items": {"$ref": "#"}},
    },
    "required": ["name"],
    "additionalProperties": False,
}
NODE_DEFS = {
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "value": {"type": "integer"},
                "next": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/node"}]},
            },
            "required": ["value"],
        }
    },
    "$ref": "#/$defs/node",
}
ODD_DEF = {"$defs": {"a/b": {"type": "string"}, "~": {"type": "integer"}},
           "properties": {"s": {"$ref": "#/$defs/a~1b"}, "i": {"$ref": "#/$defs/~0"}}}


def edges():
    """Hand-written (name, schema, instance) cases."""
    cases = []

    def add(name, schema, *instances):
        for i, instance in enumerate(instances):
            cases.append((f"{name}/{i}", schema, instance))

    # Integers: a number with no fractional part, whatever its spelling.
    add("integer", {"type": "integer"}, 1, 1.0, -0.0, 1.5, True, "1", None, 2.0**52, [1])
    add("integer bounds", {"type": "integer", "minimum": 1.0, "maximum": 3}, 1, 3.0, 0.0, 4, 2.5)
    add("integer or string", {"type": ["integer", "string"]}, 2.0, "x", 2.5, False)
    add("number", {"type": "number"}, 1, 1.0, 0.5, True, "0", None)
    add("boolean", {"type": "boolean"}, True, False, 0, 1, "true", None)
    add("null", {"type": "null"}, None, 0, False, "", [], {})
    add("object", {"type": "object"}, {}, {"a": 1}, [], None, "{}")
    add("array", {"type": "array"}, [], [1], {}, "[]")
    add("string", {"type": "string"}, "", "😀", 1, None)
    # Lengths in code points.
    add("one code point", {"minLength": 1, "maxLength": 1},
        "😀", "𝄞", "a", "é", "e\u0301", "😀😀", "", 5)
    add("two code points", {"type": "string", "maxLength": 2}, "😀😀", "😀😀😀", "😀a", "e\u0301")
    add("min length astral", {"minLength": 3}, "😀😀", "😀😀😀", "ab\u0301", "中中")
    # additionalProperties, with and without properties (no patternProperties).
    add("closed", {"properties": {"a": {}}, "additionalProperties": False},
        {"a": 1}, {}, {"a": 1, "b": 2}, {"b": 2}, 5, [])
    add("closed empty", {"additionalProperties": False}, {}, {"x": 1}, 5, "x")
    add("additional schema",
        {"properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "string"}},
        {"a": 1, "b": "x"}, {"a": "x"}, {"b": 1}, {"a": 1.0, "😀": "😀"})
    add("additional only", {"additionalProperties": {"type": "boolean"}},
        {"a": True}, {"a": 1}, {})
    add("required", {"required": ["a", "a/b"]}, {"a": 1, "a/b": 2}, {"a": 1}, {}, 5, ["a", "a/b"])
    add("property counts", {"minProperties": 1, "maxProperties": 2},
        {}, {"a": 1}, {"a": 1, "b": 2, "c": 3}, [1])
    # enum and const: numbers by value, booleans are not numbers.
    add("enum 1", {"enum": [1]}, 1, 1.0, True, "1", [1])
    add("enum 1.0", {"enum": [1.0]}, 1, 1.0, True)
    add("enum true", {"enum": [True]}, True, 1, 1.0, "true")
    add("enum 0", {"enum": [0, None]}, 0, 0.0, -0.0, False, None)
    add("enum nested", {"enum": [[1], {"a": 1}]},
        [1.0], [True], {"a": 1.0}, {"a": True}, {"a": 1, "b": 1}, [1, 1])
    add("const", {"const": 1}, 1, 1.0, True, 2)
    add("const false", {"const": False}, False, 0, None)
    add("const null", {"const": None}, None, 0, False, {})
    add("const object", {"const": {"a": [1, 2]}}, {"a": [1, 2.0]}, {"a": [2, 1]}, {"a": [1, 2], "b": 0})
    # oneOf: exactly one, also when nested.
    add("oneOf two match", {"oneOf": [{"type": "integer"}, {"minimum": 0}]}, 1, -1, 0.5, "x", -1.5)
    add("oneOf nested",
        {"oneOf": [{"oneOf": [{"type": "number"}, {"type": "integer"}]}, {"const": "a"}]},
        1, 1.0, 1.5, "a", "b")
    add("oneOf all three", {"oneOf": [{}, True, {"type": "string"}]}, "x", 1)
    add("anyOf", {"anyOf": [{"type": "string"}, {"minimum": 2}]}, "x", 2, 1, None)
    add("allOf", {"allOf": [{"minimum": 0}, {"maximum": 1}, {"type": "integer"}]}, 0, 1.0, 0.5, 2)
    add("not", {"not": {"type": "string"}}, "x", 1)
    add("not empty", {"not": {}}, 1, None)
    add("not false", {"not": False}, 1, None)
    # Empty and boolean schemas.
    add("empty", {}, None, True, 0, 1.5, "😀", [], {}, {"a": [{}]})
    add("true", True, None, 0, "x", [1], {"a": 1})
    add("false", False, None, 0, "x", [1], {})
    add("nested false", {"properties": {"a": False}}, {}, {"a": None}, {"b": 1})
    add("items false", {"items": False}, [], [1], "x")
    # Bounds, inclusive and exclusive, with numbers of both spellings.
    add("minimum", {"minimum": 1}, 1, 1.0, 0.5, 0, "0")
    add("exclusiveMinimum", {"exclusiveMinimum": 1}, 1, 1.0, 1.5, 2)
    add("maximum", {"maximum": 2.5}, 2.5, 2, 3, 3.0)
    add("exclusiveMaximum", {"exclusiveMaximum": 0}, 0, -0.0, 0.0, -0.5, 0.5)
    add("both bounds", {"minimum": 1, "exclusiveMinimum": 1}, 1, 1.5)
    add("empty range", {"minimum": 2, "maximum": 1}, 1, 2, 1.5, "x")
    # Arrays.
    add("unique", {"uniqueItems": True},
        [], [1, 2], [1, 1.0], [1, True], [0, False], [None, None], ["a", "a"], ["a", "b"],
        [{"a": 1}, {"a": 1.0}], [{"a": 1}, {"a": True}], [[1], [True]], [[1], [1.0]], [{}, []])
    add("unique false", {"uniqueItems": False}, [1, 1])
    add("item counts", {"minItems": 1, "maxItems": 2}, [], [1], [1, 2, 3], {})
    add("tuple", {"prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
        [], [1], [1, "a"], [1, "a", None], ["a"], [1.0, "😀"])
    add("tuple open", {"prefixItems": [{"type": "string"}]}, [1], ["a", 1], [])
    add("tuple and items", {"prefixItems": [{"const": 0}], "items": {"type": "string"}},
        [0, "a", "b"], [0, "a", 1], [0.0])
    add("items", {"items": {"type": "integer", "minimum": 0}}, [0, 1.0], [0, -1], [0, 0.5])
    # $ref into $defs and to the root, with siblings, and escaped names.
    add("ref def", {"$defs": {"pos": {"type": "integer", "minimum": 1}},
                    "properties": {"a": {"$ref": "#/$defs/pos"}}},
        {"a": 1}, {"a": 0}, {"a": 1.0}, {"a": "1"})
    add("ref sibling", {"$defs": {"s": {"type": "string"}}, "$ref": "#/$defs/s", "minLength": 2},
        "ab", "a", 12)
    add("ref chain", {"$defs": {"a": {"$ref": "#/$defs/b", "minimum": 0},
                                "b": {"type": "integer"}}, "$ref": "#/$defs/a"},
        1, -1, 0.5)
    add("ref escaped", ODD_DEF, {"s": "x", "i": 1}, {"s": 1}, {"i": "x"})
    tree = {"name": "root", "children": [{"name": "a", "children": []},
                                         {"name": "b", "children": [{"name": "c"}]}]}
    bad_tree = copy.deepcopy(tree)
    bad_tree["children"][1]["children"][0]["name"] = ""
    extra_tree = copy.deepcopy(tree)
    extra_tree["children"][0]["size"] = 1
    add("tree", TREE, tree, bad_tree, extra_tree, {"name": "x"}, {"children": []})
    chain = {"value": 1, "next": {"value": 2, "next": {"value": 3.0, "next": None}}}
    bad_chain = copy.deepcopy(chain)
    bad_chain["next"]["next"]["value"] = 3.5
    add("linked list", NODE_DEFS, chain, bad_chain, {"value": 1, "next": {}}, {"value": 1, "next": None})
    # Annotations do not validate.
    add("annotations", {"type": "string", **ANNOTATIONS}, "not an email", 5)
    add("dialect", {"$schema": "https://json-schema.org/draft/2020-12/schema",
                    "$id": "https://example.com/tool.json", "type": "integer"}, 1, "x")
    add("dialect ref", {"$schema": "https://json-schema.org/draft/2020-12/schema",
                        "$defs": {"n": {"type": "number"}}, "items": {"$ref": "#/$defs/n"}},
        [1, 2.5], [1, "x"])
    add("keys", {"properties": {"a/b": {"type": "integer"}, "~t": {"type": "string"},
                                "x y": {"const": None}, "😀": {"maxLength": 1}}},
        {"a/b": 1, "~t": "x", "x y": None, "😀": "😀"}, {"a/b": "1"}, {"~t": 1},
        {"x y": 0}, {"😀": "😀😀"})
    return cases


class Gen:
    def __init__(self, rng):
        self.rng = rng
        self.defs = {}

    def chance(self, p):
        return self.rng.random() < p

    def pick(self, seq):
        return self.rng.choice(seq)

    # ---- schemas ----

    def document(self):
        """A root schema, sometimes with $defs d0..dn, not nested too deep."""
        while True:
            doc = self.attempt()
            if nesting(doc) <= MAX_NESTING:
                return doc

    def attempt(self):
        if self.chance(0.03):
            return self.pick([True, False, {}])
        ndefs = self.pick([0, 0, 0, 1, 2, 3])
        names = [f"d{i}" for i in range(ndefs)]
        self.defs = {}
        # Generated last to first, so a def's same-place refs (to later
        # defs) resolve to schemas that already exist.
        for i in reversed(range(ndefs)):
            self.defs[names[i]] = self.schema(SCHEMA_DEPTH - 1, i, False, names)
        root = self.schema(SCHEMA_DEPTH, -1, False, names)
        if ndefs:
            if root is True or root is False:
                root = {"allOf": [root]}
            root = {"$defs": {n: self.defs[n] for n in names}, **root}
        return root

    def ref(self, owner, descended, names):
        """A $ref allowed here, or None: at the same place only forward."""
        targets = [f"#/$defs/{n}" for j, n in enumerate(names) if descended or j > owner]
        if descended:
            targets.append("#")
        return self.pick(targets) if targets else None

    def schema(self, depth, owner, descended, names):
        if depth <= 0 or self.chance(0.08):
            return self.leaf()
        if self.chance(0.15):
            target = self.ref(owner, descended, names)
            if target is not None:
                s = {"$ref": target}
                if self.chance(0.3):
                    s.update(self.keywords(self.pick(TYPES), depth - 1, owner, descended, names))
                return around_ajv(s)
        kind = self.pick(TYPES + ["any"])
        s = {}
        if kind != "any":
            if self.chance(0.2):
                s["type"] = self.rng.sample(TYPES, self.pick([1, 2, 3]))
                if kind not in s["type"]:
                    s["type"].append(kind)
            else:
                s["type"] = kind
        s.update(self.keywords(kind, depth, owner, descended, names))
        if self.chance(0.15):
            # Keywords of another type: they only apply to their own.
            s.update(self.keywords(self.pick(TYPES), depth, owner, descended, names))
        if self.chance(0.12):
            if self.chance(0.5):
                s["const"] = self.value(2)
            else:
                s["enum"] = self.unique_values(self.pick([1, 2, 3, 4]))
        if self.chance(0.25):
            s.update(self.combinator(depth, owner, descended, names))
        if self.chance(0.08):
            target = self.ref(owner, descended, names)
            if target is not None:
                s["$ref"] = target
        if self.chance(0.1):
            key = self.pick(sorted(ANNOTATIONS))
            s[key] = ANNOTATIONS[key]
        return around_ajv(s)

    def leaf(self):
        r = self.rng.random()
        if r < 0.1:
            return True
        if r < 0.13:
            return False
        if r < 0.25:
            return {}
        kind = self.pick(TYPES)
        s = {"type": kind}
        s.update(self.keywords(kind, 0, -1, True, []))
        return around_ajv(s)

    def keywords(self, kind, depth, owner, descended, names):
        s = {}

        def sub():
            if depth <= 0:
                return self.pick([True, {}, {"type": self.pick(TYPES)}])
            return self.schema(depth - 1, owner, True, names)

        if kind in ("number", "integer"):
            lo = self.pick(BOUNDS)
            hi = lo + self.pick([0, 0.5, 1, 2, 5, 1.0])
            if self.chance(0.6):
                s["exclusiveMinimum" if self.chance(0.3) else "minimum"] = lo
            if self.chance(0.6):
                s["exclusiveMaximum" if self.chance(0.3) else "maximum"] = hi
        elif kind == "string":
            lo = self.pick([0, 1, 1, 2, 3])
            if self.chance(0.6):
                s["minLength"] = lo
            if self.chance(0.6):
                s["maxLength"] = lo + self.pick([0, 1, 2])
        elif kind == "array":
            if self.chance(0.3):
                s["prefixItems"] = [sub() for _ in range(self.pick([1, 2, 3]))]
            if self.chance(0.6):
                s["items"] = sub() if self.chance(0.85) else self.pick([True, False])
            if self.chance(0.4):
                s["minItems"] = self.pick([0, 1, 2])
            if self.chance(0.4):
                s["maxItems"] = s.get("minItems", 0) + self.pick([0, 1, 2, 3])
            if self.chance(0.35):
                s["uniqueItems"] = self.chance(0.85)
        elif kind == "object":
            if self.chance(0.8):
                keys = self.rng.sample(KEYS, self.pick([1, 2, 3]))
                s["properties"] = {k: sub() for k in keys}
            if self.chance(0.5):
                pool = list(s.get("properties", {})) + [self.pick(KEYS)]
                s["required"] = sorted(set(self.rng.sample(pool, self.pick([1, 2]) if len(pool) > 1 else 1)))
            if self.chance(0.45):
                s["additionalProperties"] = self.pick([False, False, True]) if self.chance(0.6) else sub()
            if self.chance(0.25):
                s["minProperties"] = self.pick([0, 1, 2])
            if self.chance(0.25):
                s["maxProperties"] = s.get("minProperties", 0) + self.pick([0, 1, 2])
        return s

    def combinator(self, depth, owner, descended, names):
        word = self.pick(["anyOf", "oneOf", "allOf", "not"])
        # Same place: a $ref below only points forward.
        sub = lambda: self.schema(depth - 1, owner, descended, names)  # noqa: E731
        if word == "not":
            return {"not": sub()}
        return {word: [sub() for _ in range(self.pick([1, 2, 3]))]}

    def value(self, depth):
        if depth <= 0 or self.chance(0.6):
            return copy.deepcopy(self.pick(VALUES))
        kind = self.pick(TYPES)
        return self.of_type(kind, {}, depth)

    def unique_values(self, n):
        out = []
        for _ in range(n * 3):
            v = self.value(1)
            if not any(same(v, w) for w in out):
                out.append(v)
            if len(out) == n:
                break
        return out

    # ---- instances ----

    def resolve(self, ref):
        return None if ref == "#" else self.defs.get(ref.rsplit("/", 1)[-1])

    def instance(self, s, depth, root):
        """A value meant to satisfy `s` (it often does)."""
        if s is True or s is False or not isinstance(s, dict) or depth <= 0:
            return self.value(0 if depth <= 0 else 1)
        if "$ref" in s and self.chance(0.6):
            target = root if s["$ref"] == "#" else self.resolve(s["$ref"])
            if target is not None:
                return self.instance(target, depth - 1, root)
        if "const" in s and self.chance(0.8):
            return copy.deepcopy(s["const"])
        if "enum" in s and self.chance(0.8):
            return copy.deepcopy(self.pick(s["enum"]))
        for word in ("anyOf", "oneOf", "allOf"):
            if word in s and self.chance(0.5):
                return self.instance(self.pick(s[word]), depth - 1, root)
        t = s.get("type")
        if isinstance(t, list):
            t = self.pick(t)
        if t is None:
            hints = [("object", ("properties", "required", "additionalProperties")),
                     ("array", ("items", "prefixItems", "minItems", "uniqueItems")),
                     ("string", ("minLength", "maxLength")),
                     ("number", ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"))]
            found = [k for k, words in hints if any(w in s for w in words)]
            t = self.pick(found) if found else self.pick(TYPES)
        return self.of_type(t, s, depth, root)

    def of_type(self, t, s, depth, root=None):
        if t == "null":
            return None
        if t == "boolean":
            return self.chance(0.5)
        if t in ("integer", "number"):
            return self.number(t, s)
        if t == "string":
            lo = s.get("minLength", 0)
            hi = s.get("maxLength", lo + 3)
            n = self.rng.randint(min(lo, hi), max(lo, hi))
            return "".join(self.pick(CHARS) for _ in range(n))
        if t == "array":
            lo = s.get("minItems", 0)
            hi = min(s.get("maxItems", lo + 3), 5)
            n = self.rng.randint(min(lo, hi), max(lo, hi))
            prefix = s.get("prefixItems", [])
            items = s.get("items", {})
            if items is False:
                n = min(n, len(prefix))
            out = []
            for i in range(n):
                sub = prefix[i] if i < len(prefix) else items
                v = self.instance(sub, depth - 1, root)
                if s.get("uniqueItems"):
                    for _ in range(4):
                        if not any(same(v, w) for w in out):
                            break
                        v = self.instance(sub, depth - 1, root)
                out.append(v)
            return out
        # object
        props = s.get("properties", {})
        keys = set(s.get("required", []))
        keys.update(k for k in props if self.chance(0.5))
        extra = s.get("additionalProperties", True)
        want = s.get("minProperties", 0)
        spare = [k for k in KEYS if k not in props]
        while extra is not False and (len(keys) < want or self.chance(0.2)) and spare:
            k = self.pick(spare)
            spare.remove(k)
            keys.add(k)
        out = {}
        for k in sorted(keys):
            sub = props.get(k, extra if k not in props else {})
            out[k] = self.instance(sub, depth - 1, root)
        return out

    def number(self, t, s):
        cands = []
        for word in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if word in s:
                b = s[word]
                cands += [b, b + 0.5, b - 0.5, b + 1, b - 1]
        lo = max([s[w] for w in ("minimum", "exclusiveMinimum") if w in s], default=-5)
        hi = min([s[w] for w in ("maximum", "exclusiveMaximum") if w in s], default=5)
        if lo <= hi:
            cands.append(self.rng.uniform(lo, hi))
        cands += [0, 1, -1, 2.5]
        v = self.pick(cands)
        if t == "integer" or self.chance(0.5):
            v = round(v)
        else:
            v = round(v * 2) / 2
        v = int(v) if self.chance(0.75) else float(v)
        return v

    # ---- mutations ----

    def mutate(self, v, bounds, lengths):
        """`v` broken a little, somewhere."""
        if isinstance(v, list) and v and self.chance(0.5):
            i = self.rng.randrange(len(v))
            op = self.pick(["inner", "inner", "dup", "drop", "add"])
            v = list(v)
            if op == "inner":
                v[i] = self.mutate(v[i], bounds, lengths)
            elif op == "dup":
                v.insert(self.rng.randrange(len(v) + 1), copy.deepcopy(v[i]))
            elif op == "drop":
                del v[i]
            else:
                v.append(self.value(1))
            return v
        if isinstance(v, dict) and self.chance(0.6):
            v = dict(v)
            op = self.pick(["inner", "inner", "drop", "add"] if v else ["add"])
            if op == "inner":
                k = self.pick(sorted(v))
                v[k] = self.mutate(v[k], bounds, lengths)
            elif op == "drop":
                del v[self.pick(sorted(v))]
            else:
                v[self.pick(KEYS)] = self.value(1)
            return v
        if isinstance(v, bool):
            return self.pick([not v, int(v), None])
        if isinstance(v, (int, float)):
            op = self.pick(["spelling", "bound", "bound", "half", "retype"])
            if op == "spelling" and float(v).is_integer():
                return float(v) if isinstance(v, int) else int(v)
            if op == "bound" and bounds:
                b = self.pick(bounds)
                b = self.pick([b, b, b + 0.5, b - 0.5])
                return float(b) if self.chance(0.3) else (int(b) if float(b).is_integer() else b)
            if op == "half":
                return v + 0.5
            return self.value(1)
        if isinstance(v, str):
            op = self.pick(["astral", "length", "drop", "retype"])
            if op == "astral":
                return v + self.pick(ASTRAL)
            if op == "length" and lengths:
                n = max(0, self.pick(lengths) + self.pick([-1, 0, 1]))
                return "".join(self.pick(ASTRAL + CHARS) for _ in range(n))
            if op == "drop" and v:
                return v[:-1]
            return self.value(1)
        return self.value(1)


def same(a, b):
    """JSON equality: numbers by value, booleans apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def around_ajv(s):
    """`s`, kept clear of an ajv 8.20 bug: with prefixItems, uniqueItems
    and an `items` that has a scalar `type`, ajv skips the items not of that
    type when it looks for duplicates, so it takes ["", null, null] as
    unique. The same `items` under allOf hides its type from ajv."""
    items = s.get("items")
    if s.get("uniqueItems") and "prefixItems" in s and isinstance(items, dict) and "type" in items:
        s["items"] = {"allOf": [items]}
    return s


def nesting(v):
    if isinstance(v, dict):
        return 1 + max(map(nesting, v.values()), default=0)
    if isinstance(v, list):
        return 1 + max(map(nesting, v), default=0)
    return 0


def collect(schema, words):
    """Every value of `words` anywhere in `schema`."""
    out = []
    if isinstance(schema, dict):
        for k, v in schema.items():
            if k in words and isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append(v)
            elif k not in ("enum", "const", "default", "examples"):
                out += collect(v, words)
    elif isinstance(schema, list):
        for v in schema:
            out += collect(v, words)
    return out


def generated(count, seed):
    rng = random.Random(seed)
    gen = Gen(rng)
    n = 0
    while n < count:
        schema = gen.document()
        bounds = collect(schema, {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
        lengths = collect(schema, {"minLength", "maxLength"})
        for _ in range(INSTANCES_PER_SCHEMA):
            if n == count:
                break
            instance = gen.instance(schema, INSTANCE_DEPTH, schema)
            for _ in range(rng.choice([0, 0, 1, 1, 2])):
                instance = gen.mutate(instance, bounds, lengths)
            yield f"generated/{n}", schema, instance
            n += 1


def main():
    out = sys.stdout
    if sys.argv[1:2] == ["--judge"]:
        for text in sys.stdin:
            if text.strip():
                pair = json.loads(text)
                out.write(line(pair.get("case", "judged"), pair["schema"], pair["instance"]) + "\n")
        return
    count = int(sys.argv[1]) if len(sys.argv) > 1 else COUNT
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else SEED
    for case, schema, instance in edges():
        out.write(line(f"edge/{case}", schema, instance) + "\n")
    for case, schema, instance in generated(count, seed):
        out.write(line(case, schema, instance) + "\n")


if __name__ == "__main__":
    main()
