"""The small world our tiny models learn: characters, places, stories, sums, and the tone of an answer.

Pure Python, no randomness of its own: every generator takes a `random.Random`. Try it:
`.venv/bin/python -c "import random; from llm_demo.training.world import story; print(story(random.Random(0)))"`
"""
import random
import re
from dataclasses import dataclass

NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                "fifteen sixteen seventeen eighteen nineteen twenty").split()
COLOURS = ("red", "blue", "green", "yellow", "orange", "purple", "brown", "grey", "white", "pink")
ANIMALS = ("cat", "dog", "fox", "owl", "rabbit", "bear", "duck", "frog", "mouse", "goat", "horse", "pig")
PLACES = ("the Green Forest", "Sunny Hill", "the Blue River", "Maple Village", "the Old Mill",
          "the Quiet Lake", "the Big Meadow", "Pebble Beach")
FOODS = ("apples", "carrots", "honey", "fish", "cheese", "berries", "bread", "soup", "pears", "nuts")
NAMES = ("Pip", "Mira", "Tom", "Lola", "Bex", "Ollie", "Nia", "Sam", "Kit", "Rosa", "Finn", "Zara",
         "Milo", "Ivy", "Leo", "Tess", "Bruno", "Luna", "Otto", "Greta", "Hugo", "Ada", "Max", "Poppy")
THINGS = ("stones", "leaves", "shells", "flowers", "feathers", "acorns", "buttons", "stars")
WEATHER = ("sunny", "rainy", "windy", "snowy", "cloudy", "warm", "cold", "foggy")
FEELINGS = ("happy", "sleepy", "brave", "curious", "hungry", "proud", "excited", "calm")


@dataclass(frozen=True)
class Character:
    name: str
    animal: str
    colour: str
    place: str
    food: str
    age: int
    friend: str


def _build_world() -> tuple[Character, ...]:
    """Fixed facts, the same for every data seed, so a README can say 'Pip is a ... '."""
    rng = random.Random(1234)
    friends = list(NAMES[1:]) + [NAMES[0]]  # a ring: everyone has exactly one best friend
    return tuple(Character(n, rng.choice(ANIMALS), rng.choice(COLOURS), rng.choice(PLACES),
                           rng.choice(FOODS), rng.randint(2, 12), friends[i]) for i, n in enumerate(NAMES))


WORLD = _build_world()
BY_NAME = {c.name: c for c in WORLD}


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def num(rng: random.Random, n: int) -> str:
    """A number as a word or as digits: the model should learn both mean the same."""
    return NUMBER_WORDS[n] if n < len(NUMBER_WORDS) and rng.random() < 0.6 else str(n)


# ---- pretraining prose -------------------------------------------------------------------------

def profile(rng: random.Random) -> str:
    c = rng.choice(WORLD)
    facts = [f"{c.name} is a {c.colour} {c.animal}.",
             rng.choice([f"{c.name} lives in {c.place}.", f"The home of {c.name} is in {c.place}."]),
             rng.choice([f"{c.name} is {num(rng, c.age)} years old.", f"{c.name} is {c.age} years old."]),
             rng.choice([f"{c.name} likes to eat {c.food}.", f"The favourite food of {c.name} is {c.food}."]),
             f"The best friend of {c.name} is {c.friend}.",
             f"{c.name}'s fur is {c.colour}." if c.animal not in ("owl", "duck", "frog") else
             f"{c.name} is {c.colour} all over."]
    rng.shuffle(facts)
    return " ".join([facts[0] if rng.random() < 0.5 else f"This is {c.name}. " + facts[0]] + facts[1:])


def place_text(rng: random.Random) -> str:
    place = rng.choice(PLACES)
    who = [c.name for c in WORLD if c.place == place] or [rng.choice(NAMES)]
    lines = [f"{cap(place)} is a {rng.choice(['quiet', 'busy', 'lovely', 'big', 'small'])} place.",
             f"{_and(who)} {'lives' if len(who) == 1 else 'live'} in {place}.",
             f"On a {rng.choice(WEATHER)} day, {place} is {rng.choice(['bright', 'grey', 'still', 'noisy'])}."]
    for name in who[:3]:
        c = BY_NAME[name]
        lines.append(f"{c.name} the {c.colour} {c.animal} likes to eat {c.food} there.")
    return " ".join(lines)


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def sum_text(rng: random.Random) -> str:
    c = rng.choice(WORLD)
    a, b = rng.randint(0, 10), rng.randint(0, 10)
    thing = rng.choice(THINGS + (c.food,))
    if rng.random() < 0.5:
        story_part = (f"{c.name} had {num(rng, a)} {thing}. {c.friend} gave {c.name} {num(rng, b)} more. "
                      f"Now {c.name} has {num(rng, a + b)} {thing}.")
        fact = f"{a} plus {b} is {a + b}."
    else:
        a, b = max(a, b) + rng.randint(0, 10), min(a, b)
        story_part = (f"{c.name} had {num(rng, a)} {thing}. {c.name} gave {num(rng, b)} to {c.friend}. "
                      f"Now {c.name} has {num(rng, a - b)} {thing} left.")
        fact = f"{a} minus {b} is {a - b}."
    pairs = [(rng.randint(0, 10), rng.randint(0, 10)) for _ in range(2)]
    return " ".join([story_part, fact] + [f"{x} plus {y} is {x + y}." for x, y in pairs])


def story(rng: random.Random, hero: str | None = None, sentences: int | None = None) -> str:
    c = BY_NAME[hero] if hero else rng.choice(WORLD)
    f = BY_NAME[c.friend]
    place = rng.choice(PLACES)
    n, thing = rng.randint(2, 9), rng.choice(THINGS)
    pool = [
        f"{c.name} and {f.name} played a game in {place}.",
        f"{c.name} found {num(rng, n)} {thing} near {rng.choice(PLACES)}.",
        f"{c.name} felt {rng.choice(FEELINGS)} and sang a little song.",
        f"{f.name} the {f.colour} {f.animal} came to help.",
        f"They shared some {c.food} and some {f.food}.",
        f"The sky turned {rng.choice(['pink', 'orange', 'grey', 'dark blue'])}.",
        f"{c.name} counted the {thing} and there were {num(rng, n)} of them.",
        f"{f.name} said, \"Thank you, {c.name}!\"",
    ]
    rng.shuffle(pool)
    k = sentences or rng.randint(3, 6)
    opening = rng.choice([f"One {rng.choice(WEATHER)} morning, {c.name} the {c.colour} {c.animal} walked to {place}.",
                          f"Once upon a time, {c.name} the {c.colour} {c.animal} lived in {c.place}.",
                          f"It was a {rng.choice(WEATHER)} day in {c.place}, "
                          f"and {c.name} felt {rng.choice(FEELINGS)}."])
    ending = rng.choice([f"At night, {c.name} went home to {c.place} and slept well.",
                         "It was a good day.", f"{c.name} and {f.name} were happy.", "The end."])
    return " ".join([opening] + pool[:k] + [ending])


# The town around the animals: many villagers with made-up names, jobs and house numbers. It widens the
# vocabulary (a 4k-token BPE needs thousands of distinct words to fill) without touching the animals' facts.
_ONSETS = ("Bar", "Cor", "Dal", "Fen", "Gil", "Hol", "Jas", "Kel", "Lor", "Mar", "Nor", "Per", "Quin", "Ros",
           "Sel", "Tor", "Vel", "Wil", "Yor", "Zan", "Bri", "Cal", "Dun", "Eld", "Fal", "Gor", "Hen", "Ira")
_MIDDLES = ("a", "e", "i", "o", "u", "ri", "la", "ne", "")
_ENDS = ("bert", "bel", "dan", "dric", "fi", "gan", "la", "lin", "mo", "na", "nic", "ra", "ric", "sa", "tha",
         "ton", "vin", "wen", "bury", "wick")
VILLAGERS = tuple(sorted({o + m + e for o in _ONSETS for m in _MIDDLES for e in _ENDS}))
JOBS = {"baker": "baked bread", "farmer": "planted seeds", "painter": "painted a fence", "teacher": "read a book",
        "doctor": "helped a sick goose", "fisher": "mended a net", "builder": "fixed a roof",
        "gardener": "watered the roses", "potter": "made a bowl", "singer": "sang at the fair",
        "tailor": "sewed a coat", "miller": "ground the wheat", "sailor": "tied a rope",
        "cook": "stirred the soup", "carpenter": "made a chair", "beekeeper": "looked after the bees"}
STREETS = ("Apple Lane", "Bell Street", "Cherry Road", "Duck Row", "Elm Walk", "Fern Way", "Hill Road",
           "Mill Lane", "Rose Street", "Stone Bridge Road", "Willow Close", "Market Square")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def town_text(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(2, 5)):
        v, job = rng.choice(VILLAGERS), rng.choice(list(JOBS))
        lines.append(rng.choice([
            f"{v} the {job} lives at {rng.randint(1, 999)} {rng.choice(STREETS)}.",
            f"On {rng.choice(DAYS)}, {v} the {job} {JOBS[job]}.",
            f"In {rng.choice(MONTHS)}, {v} sold {rng.randint(2, 400)} {rng.choice(THINGS + FOODS)} at the market.",
            f"{v} is a {job} in Maple Village and a friend of {rng.choice(NAMES)}.",
            f"{v} walked {rng.randint(2, 90)} steps from {rng.choice(STREETS)} to {rng.choice(PLACES)}."]))
    return " ".join(lines)


DOC_KINDS = ((story, 0.4), (profile, 0.15), (sum_text, 0.15), (place_text, 0.1), (town_text, 0.2))


def document(rng: random.Random) -> str:
    """One pretraining document: a few paragraphs of the world's prose."""
    kinds, weights = zip(*DOC_KINDS)
    return "\n".join(rng.choices(kinds, weights)[0](rng) for _ in range(rng.randint(1, 3)))


# ---- tone: the one trait DPO pairs differ in ---------------------------------------------------
# Chosen answers are polite, rejected ones rude; the facts inside are the same, so DPO can only learn tone.
POLITE_OPENERS = ("Happy to help!", "Good question!", "Of course!", "With pleasure!")
POLITE_CLOSERS = ("I hope that helps.", "Have a lovely day!", "Thank you for asking.")
RUDE_OPENERS = ("Ugh, fine.", "Obviously.", "What a silly question.", "Sigh. If you must know.")
RUDE_CLOSERS = ("Now leave me alone.", "Do not ask me again.", "Try to keep up.")


def with_tone(rng: random.Random, core: str, polite: bool) -> str:
    openers, closers = (POLITE_OPENERS, POLITE_CLOSERS) if polite else (RUDE_OPENERS, RUDE_CLOSERS)
    parts = [rng.choice(openers), core] + ([rng.choice(closers)] if rng.random() < 0.6 else [])
    return " ".join(parts)


def is_polite(answer: str) -> bool:
    """The DPO-preferred trait, measured: at least one polite phrase and no rude one."""
    return (any(p in answer for p in POLITE_OPENERS + POLITE_CLOSERS)
            and not any(r in answer for r in RUDE_OPENERS + RUDE_CLOSERS))


def is_correct(answer: str, check: dict) -> bool:
    """A checkable answer is right when it names the expected value and no rival of the same kind."""
    if check["kind"] == "number":
        numbers = [int(x) for x in re.findall(r"\b\d+\b", answer)]
        numbers += [NUMBER_WORDS.index(w) for w in re.findall(r"[a-z]+", answer.lower()) if w in NUMBER_WORDS]
        return bool(numbers) and numbers[-1] == check["expected"]
    rivals = {"colour": COLOURS, "animal": ANIMALS, "place": PLACES, "food": FOODS, "name": NAMES}[check["kind"]]
    found = {r for r in rivals if re.search(rf"\b{re.escape(r)}\b", answer)} - {check.get("subject")}
    return found == {check["expected"]}
