"""Cases for the BM25 differential test, in two modes.

`generate` writes one JSON line, {"tools", "queries"}: a catalog of TOOLS
MCP tool definitions from a fixed seed, and about 60 queries. Tool names
come in the spellings catalogs use (`github_create_issue`, `fs.read_file`,
`sendEmail`, `slack-post-message`, `parseJSONFile`); each tool has a title
(most of them), a description and 0 to 4 parameters with names and (most)
descriptions, drawn from a vocabulary where a few words are in most tools
(their idf goes negative), many in some, and many in one or two. One tool in
five also has two or three invented words no other tool has. Each query is
{"text", "kind", "intended"}: kind `single`, `multi`, `repeated`, `absent`
(words no tool has, or no words at all) or `unambiguous` (words that only
tool `intended` has, with a word of its name); `intended` is null for the
others. Nothing here splits text into words: the Rust side does, with the
gateway's own tokenizer.

`score` reads lines {"corpus": [[word]], "queries": [[word]]} on stdin and
answers each with a line {"scores": [[float per document] per query],
"top": [index of the first highest score per query]} from rank-bm25's
`BM25Okapi(corpus).get_scores(query)` (k1 1.5, b 0.75, epsilon 0.25).

Usage: bm25_cases.py generate [SEED]
       bm25_cases.py score
"""

import json
import random
import re
import sys

import numpy as np
from rank_bm25 import BM25Okapi

SEED = 2502
TOOLS = 300
MAX_PARAMS = 4
DISTINCTIVE_EVERY = 5  # one tool in this many has words of its own
UNAMBIGUOUS = 16
RANDOM_QUERIES = 4

SERVICES = [
    "github", "gitlab", "slack", "jira", "notion", "fs", "postgres", "s3",
    "stripe", "calendar", "gmail", "weather", "kubernetes", "docker", "redis",
    "linear", "figma", "twilio", "shopify", "salesforce", "sentry", "zendesk",
]
VERBS = [
    "create", "get", "list", "update", "delete", "search", "read", "write",
    "send", "fetch", "move", "copy", "archive", "run", "query", "upload",
    "download", "close", "merge", "restart", "cancel", "refund", "schedule",
    "post", "resolve", "export", "import", "sync", "tag", "watch",
]
NOUNS = [
    "issue", "file", "message", "channel", "page", "database", "table", "row",
    "bucket", "object", "payment", "invoice", "customer", "event", "email",
    "forecast", "pod", "container", "key", "ticket", "comment", "branch",
    "commit", "user", "team", "project", "document", "folder", "order",
    "product", "deployment", "alert", "label", "release", "webhook", "report",
]
ACRONYMS = ["HTTP", "URL", "DNS", "SQL", "JSON", "PDF", "CSV", "API", "SSH"]
# In nearly every description: their idf is negative in the catalog.
COMMON = ["the", "a", "to", "of", "and"]
# In many descriptions.
SHARED = [
    "returns", "given", "optional", "identifier", "results", "list", "by",
    "for", "with", "in", "from", "new", "existing", "current", "all", "one",
    "or", "if", "when", "matching", "default", "limit", "name", "id",
]
# In few descriptions each (a long tail, picked unevenly).
RARE = [
    "paginated", "idempotent", "recursive", "asynchronously", "webhook",
    "timezone", "markdown", "attachment", "thumbnail", "checksum", "cursor",
    "ascending", "descending", "permissions", "quota", "retention", "locale",
    "encrypted", "compressed", "archived", "draft", "pinned", "muted",
    "mentions", "reactions", "threads", "milestones", "assignee", "reviewer",
    "latency", "replicas", "namespace", "manifest", "snapshot", "rollback",
    "subscription", "coupon", "currency", "shipment", "inventory", "humidity",
    "precipitation", "celsius", "fahrenheit", "café", "größe", "naïve",
    "utf8", "v2", "ipv6", "oauth2", "s3compatible", "x509",
]
PARAMS = [
    "query", "limit", "cursor", "path", "file_path", "repo", "owner",
    "issueNumber", "channel_id", "text", "body", "title", "userId", "email",
    "amount", "currency", "city", "units", "namespace", "podName", "tableName",
    "sql", "bucket", "objectKey", "startTime", "end_time", "labels", "force",
    "dryRun", "timeoutMs", "pageSize", "sortOrder", "includeArchived",
]
PARAM_DESCRIPTIONS = [
    "The {noun} to {verb}.",
    "Which {noun}, by {shared}.",
    "{Shared} {noun} {rare}; {shared} {common} {shared}.",
    "How many {noun}s to return, at most.",
    "If set, {verb} the {rare} {noun} too.",
    "",
]
DESCRIPTION_CLAUSES = [
    "{Verbs} {common} {noun} in {Service}.",
    "{Verb} {common} {noun} {shared} {common} {noun2}.",
    "Returns {common} {shared} {noun}s {shared} {rare}.",
    "Use this {shared} {verb} {common} {rare} {noun2}.",
    "{Shared} {rare} {noun} {common} {shared} {common} {noun}.",
    "Fails {shared} {common} {noun} is {rare}.",
]
SYLLABLES = [
    "zor", "blax", "quil", "mat", "vex", "nor", "thra", "pim", "ulk", "dro",
    "syl", "keth", "wun", "gra", "fip", "lob", "yst", "murr", "ozz", "clem",
]

# Hand-written queries, by kind. `absent` ones have words no tool has (the
# invented words are made of SYLLABLES, which none of these are), or none.
SINGLE = [
    "file", "issue", "the", "github", "create", "send", "payments", "forecast",
    "Kubernetes", "a", "JSON", "celsius", "café",
]
MULTI = [
    "create a github issue", "read the contents of a file",
    "send an email to a user", "list open pull requests",
    "what's the weather forecast for tomorrow?", "query the postgres database",
    "upload file to s3 bucket", "refund a customer payment with stripe",
    "restart the kubernetes pod", "post a message to a slack channel",
    "search jira tickets by assignee", "getWeather", "fs.read_file",
    "delete_row", "Send-Email now!", "exportCSVReport for the team",
]
REPEATED = [
    "file file", "issue issue issue", "the the the", "create issue create issue",
    "send email email", "JSON json Json", "a a a a a a a a",
]
ABSENT = [
    "xylophone", "quantum entanglement", "read quantum file", "teleport the llama",
    "", "!!! ???", "ZZZ", "12345", "zebra-crossing_lights",
]


def cap(word):
    return word[:1].upper() + word[1:]


def third_person(verb):
    if verb.endswith(("s", "x", "ch", "sh")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def tool_name(rng, service, verb, noun):
    style = rng.randrange(6)
    if style == 0:
        return f"{service}_{verb}_{noun}"
    if style == 1:
        return f"{service}.{verb}_{noun}"
    if style == 2:
        return f"{verb}{cap(noun)}"
    if style == 3:
        return f"{service}-{verb}-{noun}"
    if style == 4:
        return f"{verb}{rng.choice(ACRONYMS)}{cap(noun)}"
    return f"{cap(service)}{cap(verb)}{cap(noun)}"


def fill(rng, template, service, verb, noun):
    """`template` with its slots drawn (a capitalised slot gives a capitalised word)."""
    # The long tail: low indexes far more often than high ones.
    rare = RARE[min(int(rng.expovariate(1 / 12)), len(RARE) - 1)]
    slots = {
        "service": service,
        "verb": verb,
        "verbs": third_person(verb),
        "noun": noun,
        "noun2": rng.choice(NOUNS),
        "common": rng.choice(COMMON),
        "shared": rng.choice(SHARED),
        "rare": rare,
    }
    slots.update({cap(k): cap(v) for k, v in list(slots.items())})
    return template.format(**slots)


def invented(rng, taken):
    """A word of two or three SYLLABLES not in `taken` (which it joins)."""
    while True:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
        if word not in taken:
            taken.add(word)
            return word


def tool(rng, names, taken):
    """One tool definition, and its own invented words (maybe none)."""
    while True:
        service, verb, noun = rng.choice(SERVICES), rng.choice(VERBS), rng.choice(NOUNS)
        name = tool_name(rng, service, verb, noun)
        if name not in names:
            names.add(name)
            break
    own = []
    if rng.randrange(DISTINCTIVE_EVERY) == 0:
        own = [invented(rng, taken) for _ in range(rng.randint(2, 3))]
    clauses = [rng.choice(DESCRIPTION_CLAUSES) for _ in range(rng.randint(1, 3))]
    description = " ".join(fill(rng, c, service, verb, noun) for c in clauses)
    # Most tools have every common word; a few have them twice or more.
    description += " " + " ".join(w for w in COMMON if rng.random() < 0.85)
    if own:
        description += f" Speaks {own[0]} over {own[1]}."
    definition = {"name": name}
    if rng.random() < 0.8:
        title = f"{cap(verb)} {cap(service) if rng.random() < 0.5 else ''} {cap(noun)}"
        definition["title"] = " ".join(title.split())
    definition["description"] = description
    properties = {}
    for _ in range(rng.randint(0, MAX_PARAMS)):
        param = rng.choice(PARAMS)
        schema = {"type": rng.choice(["string", "integer", "boolean"])}
        text = fill(rng, rng.choice(PARAM_DESCRIPTIONS), service, verb, noun)
        if text:
            schema["description"] = text
        properties[param] = schema
    if len(own) == 3:
        # A parameter named in camel case after a word of its own.
        properties[f"{own[2]}Level"] = {"type": "integer", "description": "How much."}
    definition["inputSchema"] = {"type": "object", "properties": properties}
    return definition, own


def generate(seed):
    rng = random.Random(seed)
    taken = set(SYLLABLES)
    names = set()
    tools, own = [], []
    for _ in range(TOOLS):
        definition, words = tool(rng, names, taken)
        tools.append(definition)
        own.append(words)

    queries = []

    def add(kind, texts):
        queries.extend({"text": t, "kind": kind, "intended": None} for t in texts)

    add("single", SINGLE)
    add("multi", MULTI)
    add("repeated", REPEATED)
    add("absent", ABSENT)
    # Random ones: a tool's title, or words of two tools' descriptions.
    for _ in range(RANDOM_QUERIES):
        a, b = rng.sample(tools, 2)
        words = a["description"].split()[:3] + b["description"].split()[-2:]
        add("multi", [a.get("title") or " ".join(words)])
    distinctive = [i for i, words in enumerate(own) if words]
    for i in rng.sample(distinctive, UNAMBIGUOUS):
        words = rng.sample(own[i], rng.randint(1, 2))
        # With a word of its name, which other tools have too.
        words.append(rng.choice(re.split(r"[._-]", tools[i]["name"])))
        rng.shuffle(words)
        queries.append({"text": " ".join(words), "kind": "unambiguous", "intended": i})
    return {"tools": tools, "queries": queries}


def score(line):
    problem = json.loads(line)
    bm25 = BM25Okapi(problem["corpus"])
    scores = [bm25.get_scores(q) for q in problem["queries"]]
    return {
        "scores": [[float(x) for x in s] for s in scores],
        "top": [int(np.argmax(s)) for s in scores],
    }


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "generate":
        seed = int(sys.argv[2]) if len(sys.argv) > 2 else SEED
        print(json.dumps(generate(seed), ensure_ascii=False))
    elif mode == "score":
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(score(line), allow_nan=False), flush=True)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
