"""Writes oasst_format_sample.trees.jsonl: a small file in Open Assistant's trees-export format,
written by us (not OASST data): 24 English trees with 3 ranked replies each (every fourth has a
reply far longer than a small model's context), 2 German trees, one tree given twice and one
reply id given twice inside a tree, as real exports have had.

  python tests/data/make_oasst_sample.py   (deterministic)
"""
import json
from pathlib import Path

TOPICS = [
    "sourdough starter",
    "bicycle chain",
    "houseplant watering",
    "résumé layout",
    "tax deadline",
    "guitar strings",
    "rain barrel",
    "compost smell",
    "laptop battery",
    "sleep schedule",
    "tomato blight",
    "budget spreadsheet",
    "dog recall training",
    "window condensation",
    "running shoes",
    "email etiquette",
    "bread flour",
    "chess opening",
    "river fishing",
    "password manager",
    "kitchen knife",
    "study notes",
    "bike commute",
    "birthday party",
]


def msg(mid, text, role, lang="en", rank=None, replies=()):
    d = {"message_id": mid, "parent_id": None, "text": text, "role": role, "lang": lang, "review_count": 3,
         "deleted": False, "synthetic": False, "replies": list(replies)}
    if rank is not None:
        d["rank"] = rank
    return d


def tree(tid, prompt):
    for r in prompt["replies"]:
        r["parent_id"] = prompt["message_id"]
    return {"message_tree_id": tid, "tree_state": "ready_for_export", "prompt": prompt}


def main() -> None:
    trees = []
    for i, t in enumerate(TOPICS):
        replies = []
        for k in range(3):
            text = f"For your {t} question, here is what tends to work. " + " ".join(
                f"Step {s}: check the {t} again and adjust one thing at a time." for s in range(1, 3 + (2 - k) * 2))
            if i % 4 == 0 and k == 2:
                text += " " + " ".join(f"Further note {s} on {t}: keep a log of what you changed." for s in range(150))
            replies.append(msg(f"t{i:02d}-r{k}", text, "assistant", rank=k))
        trees.append(tree(f"t{i:02d}-p", msg(f"t{i:02d}-p", f"How should I deal with my {t}? It keeps giving me "
                                                            "trouble.", "prompter", replies=replies)))
    for i, t in enumerate(["Fahrrad", "Brot"]):
        replies = [msg(f"de{i}-r{k}", f"Antwort {k} zu {t}.", "assistant", lang="de", rank=k) for k in range(2)]
        trees.append(
            tree(f"de{i}-p", msg(f"de{i}-p", f"Wie pflege ich mein {t}?", "prompter", lang="de", replies=replies))
        )
    trees.append(json.loads(json.dumps(trees[3])))  # a tree given twice
    trees[5]["prompt"]["replies"].append(json.loads(json.dumps(trees[5]["prompt"]["replies"][0])))  # a message id twice
    out = Path(__file__).with_name("oasst_format_sample.trees.jsonl")
    out.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in trees), encoding="utf-8")


if __name__ == "__main__":
    main()
