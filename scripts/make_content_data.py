#!/usr/bin/env python3
"""Generate the synthetic Fernway brand-copy (content generation) dataset.

Fernway is a fictional outdoor-gear brand, invented for honed's examples.
Its marketing team asks for short pieces of copy (product descriptions,
launch announcements, sale announcements, social posts, ...) and the
dataset teaches a small chat model Fernway's distinctive, consistent house
style:

    <Headline in Title Case naming the product>
    <2-3 short, warm, second-person sentences reusing the request's details>
    <call to action specific to the content type>
    Fernway — made for the long way round.

Run from anywhere (stdlib only, fully deterministic):

    python scripts/make_content_data.py [OUT_DIR]

OUT_DIR (default: this repository's examples/data/content) is where the splits go;
the tests regenerate into a temporary folder and compare byte for byte.

Writes examples/data/content/train.jsonl (320 rows) and
examples/data/content/test.jsonl (64 rows). Every content type reserves one
of its request templates for the test split, so test requests are
paraphrases never seen in training while every content type appears in both
splits. Which template is held out rotates from type to type (polite,
casual, terse, urgent, detailed), so the test split covers every tone.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from synthetic_data import generate_splits, output_dir, write_splits

SEED = 29
N_TRAIN = 320
N_TEST = 64
OUT_DIR = Path(__file__).resolve().parents[1] / "examples" / "data" / "content"

SYSTEM = "You are Fernway's brand copywriter."
SIGNATURE = "Fernway — made for the long way round."

# --------------------------------------------------------------------------
# Slot pools and the (invented) product catalogue
# --------------------------------------------------------------------------

# name, weight, material, possible prices
PRODUCTS = [
    ("Ridgeline 2P tent", "1.9 kg", "ripstop nylon", ["$329", "$349", "$379"]),
    ("Emberlite stove", "310 g", "titanium", ["$79", "$89", "$99"]),
    ("Driftwood rain shell", "380 g", "recycled nylon", ["$199", "$229", "$249"]),
    ("Cairn 45 backpack", "1.2 kg", "waxed canvas", ["$169", "$189", "$209"]),
    ("Northstar sleeping bag", "1.1 kg", "responsibly sourced down", ["$259", "$279", "$299"]),
    ("Tidepool dry bag", "140 g", "coated ripstop", ["$29", "$35", "$39"]),
    ("Switchback trail shoe", "290 g", "breathable mesh", ["$139", "$149", "$159"]),
    ("Glowmoth headlamp", "85 g", "recycled aluminium", ["$39", "$45", "$49"]),
    ("Bramble fleece", "410 g", "recycled polyester", ["$99", "$109", "$119"]),
    ("Hollowpine hammock", "560 g", "parachute nylon", ["$69", "$79", "$89"]),
    ("Hearth camp chair", "900 g", "aluminium and canvas", ["$89", "$99", "$109"]),
    ("Pinecrest water bottle", "350 g", "stainless steel", ["$29", "$32", "$35"]),
]

COLOURS = ["moss green", "slate blue", "rust orange", "sand", "charcoal",
           "fern green", "ember red", "glacier white"]
AUDIENCES = ["first-time campers", "weekend hikers", "thru-hikers", "young families",
             "trail runners", "bikepackers", "canoe trippers", "dog walkers"]
SEASONS = ["spring", "summer", "autumn", "winter"]
CITIES = ["Boulder", "Bend", "Asheville", "Flagstaff", "Missoula", "Chattanooga",
          "Duluth", "Bozeman"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July",
          "August", "September", "October", "November", "December"]
DISCOUNTS = ["10", "15", "20", "25", "30", "35", "40"]

def title(text: str) -> str:
    """Capitalise every word's first letter, keeping existing capitals (2P)."""
    return " ".join(w[:1].upper() + w[1:] for w in text.split())


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def date(rng: random.Random) -> str:
    return f"{rng.choice(MONTHS)} {rng.randint(1, 28)}"


def product_slots(rng: random.Random) -> dict:
    name, weight, material, prices = rng.choice(PRODUCTS)
    return {"product": name, "weight": weight, "material": material, "price": rng.choice(prices)}


def sample(rng: random.Random, fields: tuple[str, ...]) -> dict:
    """Draw a value for every field the content type uses."""
    s = product_slots(rng)
    if "product2" in fields:
        s["product2"] = rng.choice([p[0] for p in PRODUCTS if p[0] != s["product"]])
    s["colour"] = rng.choice(COLOURS)
    s["audience"] = rng.choice(AUDIENCES)
    s["season"] = rng.choice(SEASONS)
    s["city"] = rng.choice(CITIES)
    s["date"] = date(rng)
    s["discount"] = rng.choice(DISCOUNTS)
    return {k: s[k] for k in fields}


# --------------------------------------------------------------------------
# Content types: request templates (one per type is reserved for test, in
# tone order polite, casual, terse, urgent, detailed), the fields the copy
# reuses, and a builder returning (headline, body sentences, call to action).
# --------------------------------------------------------------------------

CONTENT_TYPES: list[dict] = []
TONES = ["polite", "casual", "terse", "urgent", "detailed"]


def content_type(name, fields, requests, build):
    assert len(requests) == len(TONES), name
    for tpl in requests:
        used = set(re.findall(r"{(\w+)}", tpl))
        # Every request states every detail the copy reuses, and nothing else.
        assert used == set(fields), (name, tpl, used)
    CONTENT_TYPES.append({"name": name, "fields": fields, "requests": requests, "build": build})


content_type(
    "product_description",
    ("product", "weight", "material", "price"),
    [
        "Could you write a product description for the {product}? It weighs {weight}, is made of {material} and costs {price}.",
        "need a quick product blurb for the {product}: {weight}, {material}, {price}. go!",
        "Product description: {product}, {weight}, {material}, {price}.",
        "The {product} page goes live in an hour and still has no description. Key facts: {weight}, {material}, {price}. Please hurry.",
        "Hi team, we're refreshing the shop page for the {product}. Please draft a short description that mentions the weight ({weight}), the {material} build and the {price} price.",
    ],
    lambda s: (
        f"Meet the {title(s['product'])}",
        [f"The {s['product']} weighs just {s['weight']}.",
         f"It is built from {s['material']}, so you can pack it and forget it.",
         f"Yours for {s['price']}."],
        "See every detail at fernway.com/shop.",
    ),
)

content_type(
    "launch_announcement",
    ("product", "date", "price", "audience"),
    [
        "Please write a launch announcement for the {product}. It launches on {date} at {price} and is aimed at {audience}.",
        "launch copy pls! {product} drops {date}, {price}, for {audience}",
        "Launch announcement: {product}. {date}. {price}. Audience: {audience}.",
        "Launch day for the {product} is {date} and we have nothing written. It's {price}, made for {audience}. We need this now.",
        "Hello! We're announcing the {product} to {audience}. It goes on sale on {date} for {price}. Could you write the announcement in our usual voice?",
    ],
    lambda s: (
        f"The {title(s['product'])} Is Here",
        [f"We built the {s['product']} for {s['audience']}.",
         f"It lands on {s['date']} at {s['price']}.",
         "You will wonder how you ever went without it."],
        "Be first in line at fernway.com/new.",
    ),
)

content_type(
    "email_snippet",
    ("product", "season", "audience", "price"),
    [
        "Could you draft an email subject line and body for our {season} email featuring the {product}? It's for {audience} and costs {price}.",
        "email time: subject + body for the {product}, {season} send, {audience}, {price}",
        "Email subject and body: {product}, {season}, {audience}, {price}.",
        "The {season} email about the {product} goes out tonight and the copy is missing. Audience is {audience}, price {price}. Please write it ASAP.",
        "Hi! For the {season} newsletter we want a short email on the {product}, aimed at {audience}. Please give me a subject line and a body, and mention the {price} price.",
    ],
    lambda s: (
        f"Subject: Make Room for the {title(s['product'])} This {title(s['season'])}",
        ["Hi there.",
         f"This {s['season']}, the {s['product']} is ready when you are.",
         f"We made it for {s['audience']}, and it costs just {s['price']}."],
        "Shop now and get outside this weekend.",
    ),
)

content_type(
    "social_post",
    ("product", "colour", "weight"),
    [
        "Could you write an Instagram post about the {product} in {colour}? Please mention that it weighs {weight}.",
        "social post for the {product}, {colour} colourway, {weight}. make it fun",
        "Social post: {product}, {colour}, {weight}.",
        "We need a social post for the {product} ({colour}, {weight}) scheduled in twenty minutes. Can you write it right away?",
        "Hey team, our next Instagram slot features the {product}. Please write a caption that shows off the {colour} colour and its {weight} weight.",
    ],
    lambda s: (
        f"New on the Trail: The {title(s['product'])}",
        [f"Say hello to the {s['product']} in {s['colour']}.",
         f"At {s['weight']}, you will barely notice it in your pack.",
         "Tag us when you take it somewhere good."],
        "Tap the link in our bio to see it.",
    ),
)

content_type(
    "sale_announcement",
    ("product", "discount", "price", "date"),
    [
        "Please write a sale announcement: the {product} is {discount}% off its usual {price} until {date}.",
        "sale copy! {discount}% off the {product} (normally {price}) till {date}",
        "Sale: {product}, {discount}% off {price}, ends {date}.",
        "Our {discount}% off sale on the {product} starts in an hour and ends {date}. Regular price is {price}. Need the announcement immediately!",
        "Hi, we're running a promotion on the {product}. Could you announce {discount}% off the regular {price} price, with the offer ending on {date}?",
    ],
    lambda s: (
        f"{s['discount']}% Off the {title(s['product'])}",
        [f"For a short time, the {s['product']} is {s['discount']}% off.",
         f"It usually costs {s['price']}.",
         f"The sale ends on {s['date']}, so do not wait too long."],
        "Shop the sale at fernway.com/sale.",
    ),
)

content_type(
    "back_in_stock",
    ("product", "colour", "price"),
    [
        "Could you write a back-in-stock notice for the {product} in {colour}? The price is still {price}.",
        "{product} in {colour} is back!! restock notice pls, still {price}",
        "Back in stock: {product}, {colour}, {price}.",
        "The {colour} {product} just got restocked and the waitlist is huge. Price stays {price}. Write the notice now, please.",
        "Hello, our restock of the {product} in {colour} arrived today. Please write a short back-in-stock message for the waitlist and keep the {price} price in it.",
    ],
    lambda s: (
        f"The {title(s['product'])} Is Back in Stock",
        ["You asked, and we listened.",
         f"The {s['product']} in {s['colour']} is back on our shelves.",
         f"It is still {s['price']}, and it still goes the distance."],
        "Grab yours before it sells out again.",
    ),
)

content_type(
    "event_invitation",
    ("product", "city", "date", "audience"),
    [
        "Could you write an invitation to our {product} demo in {city} on {date}? We're inviting {audience}.",
        "invite copy for the {product} night in {city}, {date}, for {audience}",
        "Event invitation: {product} demo, {city}, {date}, {audience}.",
        "Invites for the {city} {product} event on {date} were due yesterday! It's for {audience}. Please write one fast.",
        "Hi team, we're hosting a hands-on evening with the {product} in {city} on {date}, mainly for {audience}. Please draft the invitation.",
    ],
    lambda s: (
        f"Join Us in {s['city']} to Try the {title(s['product'])}",
        [f"Come try the {s['product']} with us in {s['city']} on {s['date']}.",
         f"The evening is made for {s['audience']}.",
         "Bring a friend and your best trail stories."],
        "Save your spot at fernway.com/events.",
    ),
)

content_type(
    "care_instructions",
    ("product", "material", "season"),
    [
        "Could you write care instructions for the {product}? It's {material}, and customers use it mostly in {season}.",
        "care tips for the {product} pls, it's {material}, lots of {season} use",
        "Care instructions: {product}, {material}, {season}.",
        "Customers keep asking how to clean the {product} after {season} trips. It's {material}. We need care copy today.",
        "Hello, we're printing care cards for the {product}. Please write friendly instructions that mention its {material} build and storing it after {season} trips.",
    ],
    lambda s: (
        f"Caring for Your {title(s['product'])}",
        [f"Your {s['product']} is made of {s['material']}.",
         "Clean it with warm water and mild soap, then let it dry in the shade.",
         f"Store it loose and dry after every {s['season']} trip."],
        "Find the full care guide at fernway.com/care.",
    ),
)

content_type(
    "gift_guide",
    ("product", "price", "audience"),
    [
        "Could you write a gift-guide blurb for the {product}? It's {price} and perfect for {audience}.",
        "gift guide blurb: {product}, {price}, great for {audience}",
        "Gift guide: {product}, {price}, for {audience}.",
        "The gift guide prints tomorrow and the {product} entry is blank. It's {price}, for {audience}. Please write it now.",
        "Hi! We're adding the {product} to this year's gift guide under gifts for {audience}. Please write a short blurb and include the {price} price.",
    ],
    lambda s: (
        f"Gift Idea: The {title(s['product'])}",
        [f"Shopping for {s['audience']}?",
         f"The {s['product']} is a gift they will use for years.",
         f"At {s['price']}, it is easy on you too."],
        "See the full gift guide at fernway.com/gifts.",
    ),
)

content_type(
    "seasonal_pick",
    ("product", "season", "city", "weight"),
    [
        "Please write a newsletter feature naming the {product} our {season} pick. Our {city} team loves it, and it weighs {weight}.",
        "{season} pick for the newsletter = {product}. {city} crew swears by it, {weight}",
        "Seasonal pick: {product}, {season}, {city} team, {weight}.",
        "Field Notes goes out this afternoon and the {season} pick is missing. It's the {product}, {weight}, a favourite of our {city} team. Please write it quickly.",
        "Hello, for the {season} edition of Field Notes we're featuring the {product}, the {weight} favourite of our {city} store team. Could you write the feature?",
    ],
    lambda s: (
        f"Our {title(s['season'])} Pick: The {title(s['product'])}",
        [f"This {s['season']}, our team in {s['city']} reached for the {s['product']} again and again.",
         f"At {s['weight']}, it earns its place in any pack.",
         "We think you will love it too."],
        "Read more in this month's Field Notes.",
    ),
)

content_type(
    "preorder",
    ("product", "date", "price"),
    [
        "Could you write pre-order copy for the {product}? It ships on {date} and costs {price}.",
        "preorders open for the {product}! ships {date}, {price}. write something?",
        "Pre-order: {product}, ships {date}, {price}.",
        "Pre-orders for the {product} open in thirty minutes. Ships {date}, priced at {price}. I need the copy right now.",
        "Hi, we're opening pre-orders for the {product} today. Please draft a message that explains it ships on {date} and costs {price}.",
    ],
    lambda s: (
        f"Pre-Order the {title(s['product'])}",
        [f"The {s['product']} ships on {s['date']}.",
         "Pre-order now and you will be among the first to take it outside.",
         f"It costs {s['price']}, with free shipping on every pre-order."],
        "Reserve yours at fernway.com/preorder.",
    ),
)

content_type(
    "new_colourway",
    ("product", "colour", "season", "price"),
    [
        "Could you announce the new {colour} colour for the {product}? It's made for {season} and stays at {price}.",
        "new colour drop: {product} in {colour}, {season} vibes, still {price}",
        "New colourway: {product}, {colour}, {season}, {price}.",
        "The {colour} {product} goes live this morning for {season} and nobody wrote the announcement. Price is still {price}. Please help fast.",
        "Hello team, we're adding a {colour} option to the {product} for {season}. Please write an announcement and mention the price stays at {price}.",
    ],
    lambda s: (
        f"The {title(s['product'])} in {title(s['colour'])}",
        [f"Your favourite {s['product']} now comes in {s['colour']}.",
         f"We picked it with {s['season']} trails in mind.",
         f"Same trusted design, same {s['price']} price."],
        "Find the new colour at fernway.com/new.",
    ),
)

content_type(
    "bundle_offer",
    ("product", "product2", "discount"),
    [
        "Could you write copy for a bundle of the {product} and the {product2}? Customers save {discount}% on both.",
        "bundle promo: {product} + {product2}, {discount}% off together",
        "Bundle offer: {product} and {product2}, {discount}% off.",
        "The {product} and {product2} bundle launches at noon with {discount}% off and we have zero copy. Please write it immediately.",
        "Hi, we're pairing the {product} with the {product2} as a bundle. Please write a short offer that says shoppers save {discount}% when they buy both.",
    ],
    lambda s: (
        f"Bundle the {title(s['product'])} and {title(s['product2'])}",
        [f"Pair the {s['product']} with the {s['product2']} and save {s['discount']}% on both.",
         "They pack together, and they work together.",
         "One checkout, and you are ready to go."],
        "Build your bundle at fernway.com/bundles.",
    ),
)

content_type(
    "member_early_access",
    ("product", "date", "discount"),
    [
        "Could you write a members' early-access message for the {product}? Access opens on {date} with {discount}% off for members.",
        "members get the {product} early: {date}, plus {discount}% off. copy pls",
        "Member early access: {product}, {date}, {discount}% off.",
        "Member early access for the {product} starts {date} and the email isn't written. Members get {discount}% off. Can you do it now?",
        "Hello, our loyalty members can shop the {product} early from {date} and save {discount}%. Please write a warm message letting them know.",
    ],
    lambda s: (
        f"Members First: The {title(s['product'])}",
        [f"As a Fernway member, you get the {s['product']} before anyone else.",
         f"Early access opens on {s['date']}.",
         f"You also save {s['discount']}% as a thank-you for sticking with us."],
        "Sign in at fernway.com/members to shop early.",
    ),
)

content_type(
    "gear_tip",
    ("product", "audience", "season", "weight"),
    [
        "Could you write a short blog teaser on why {audience} should pack the {product} this {season}? It weighs {weight}.",
        "blog teaser: {product} for {audience}, {season} trips, only {weight}",
        "Blog teaser: {product}, {audience}, {season}, {weight}.",
        "The Journal post on the {product} publishes in an hour with no teaser. It's for {audience} heading out in {season}, and it's {weight}. Please write it now.",
        "Hi team, our next Journal story explains why {audience} love the {product} in {season}. Please write a teaser and mention it weighs just {weight}.",
    ],
    lambda s: (
        f"Why the {title(s['product'])} Belongs in Your Pack",
        [f"Heading out this {s['season']}?",
         f"{cap(s['audience'])} tell us the {s['product']} is the first thing they pack.",
         f"It weighs only {s['weight']}, so it never slows you down."],
        "Read the full story on the Fernway Journal.",
    ),
)

content_type(
    "review_request",
    ("product", "season", "discount"),
    [
        "Could you write a review request for customers who bought the {product} this {season}? We'll thank them with {discount}% off their next order.",
        "review ask email for {product} buyers, {season}, {discount}% off next order as thanks",
        "Review request: {product}, {season}, {discount}% thank-you discount.",
        "Our {product} review request should have gone out last week. It's for {season} buyers, with {discount}% off their next order. Please write it right now.",
        "Hello, we'd like to hear from {season} buyers of the {product}. Please write a short review request and offer {discount}% off their next order as a thank-you.",
    ],
    lambda s: (
        f"How Was Your {title(s['product'])}?",
        [f"We hope the {s['product']} made your {s['season']} a little better.",
         "Tell us how it went, the good and the bad.",
         f"As a thank-you, your next order is {s['discount']}% off."],
        "Leave your review at fernway.com/reviews.",
    ),
)

# Light tone wrappers so the same template reads a little differently.
PREFIXES = ["Hi! ", "Morning. ", "Quick one. ", "Hey team. ", "Hello. ", "New request. "]
GREETINGS = ("Hi", "Hello", "Hey")
SUFFIXES = [" Thanks!", " Thank you.", " Cheers.", " Keep it on-brand.", " Appreciate it.",
            " Usual Fernway voice, please."]


def build_copy(parts: tuple[str, list[str], str]) -> str:
    headline, body, cta = parts
    return "\n".join([headline, " ".join(body), cta, SIGNATURE])


def render_request(rng: random.Random, template: str, slots: dict) -> str:
    q = template.format(**slots)
    roll = rng.random()
    if roll < 0.15:
        if not q.startswith(GREETINGS):
            q = rng.choice(PREFIXES) + q
    elif roll < 0.30:
        if q[-1] not in ".!?":
            q += "."
        q += rng.choice(SUFFIXES)
    return q


def check_reuse(ct: dict, slots: dict, request: str, copy: str) -> None:
    """The copy must reuse every detail stated in the request."""
    for field in ct["fields"]:
        v = slots[field].lower()
        assert v in request.lower() and v in copy.lower(), (ct["name"], field, request, copy)
    assert copy.endswith("\n" + SIGNATURE), copy


def main() -> None:
    train, test = generate_splits(
        random.Random(SEED), CONTENT_TYPES, N_TRAIN, N_TEST, system=SYSTEM, templates_key="requests",
        sample=lambda rng, ct: sample(rng, ct["fields"]), render=render_request,
        answer=lambda ct, s: build_copy(ct["build"](s)), noun="request",
        # A fresh request is required; prefer one whose copy is fresh too.
        prefer_fresh_train_answers=True, check=check_reuse)
    print(f"content types: {len(CONTENT_TYPES)}")
    write_splits(output_dir(OUT_DIR), train, test, N_TRAIN, N_TEST)


if __name__ == "__main__":
    main()
