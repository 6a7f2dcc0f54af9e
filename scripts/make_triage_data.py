#!/usr/bin/env python3
"""Generate the synthetic Brightwave ticket-triage (structured output) dataset.

A customer message goes in; one JSON object comes out, on one line, that
Brightwave's ticketing system ingests:

    {"product": "CamHome Mini", "category": "hardware", "urgency": "high",
     "order_id": "BW-482913", "summary": "Customer reports the CamHome Mini no longer charges."}

Brightwave (its products, plans, order numbers, names and ZIP codes) is the
fictional company of make_support_data.py, whose lists this script imports.
The messages are written so that the labels need reading: a refund for a
returned router is billing, an outage mentioned in passing in a setup
question is still setup, "not a billing question" means what it says, and
urgency comes from consequences (a client call in an hour, a burning smell),
never from tone alone.

Run from anywhere (stdlib only, fully deterministic):

    python scripts/make_triage_data.py [OUT_DIR]

OUT_DIR (default: this repository's examples/data/triage) is where the files go;
the tests regenerate into a temporary folder and compare byte for byte.

Writes train.jsonl (480 rows), test.jsonl (80 rows) and schema.json (the
answer's JSON Schema, written from the same lists as the data so the two
cannot drift). Every scenario holds out one of its five message templates
for the test split (rotating tone: polite, casual, terse, angry, tricky), and
every category and urgency level holds out one urgency sentence, so test
messages are phrasings never seen in training.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from make_support_data import (ALL_DEVICES, BATTERY_DEVICES, CAMERAS, CAM_SPOTS, CITIES, COUNTRIES, MONTHS, NAMES,
                               PHONES, PLANS, PLUGS, PURPOSES, ROLES, ROOMS, ROUTERS, SCHEDULE_TIMES, SMART_DEVICES,
                               SSIDS, TEMPS, TIMES, TWO_FA, WARRANTY, email, money, order_no)
from synthetic_data import TRIES, chat_row, output_dir, split_counts, write_splits

SEED = 41
N_TRAIN = 480
N_TEST = 80
OUT_DIR = Path(__file__).resolve().parents[1] / "examples" / "data" / "triage"

# Every product Brightwave sells carries a warranty, so the warranty table is the catalogue.
PRODUCTS = list(WARRANTY)
CATEGORIES = ["billing", "outage", "setup", "account", "hardware"]
URGENCIES = ["low", "medium", "high"]
KEYS = ["product", "category", "urgency", "order_id", "summary"]
ORDER_PATTERN = "^BW-[0-9]{6}$"
SUMMARY_WORDS = (6, 16)
SUMMARY_MAX_CHARS = 120

SYSTEM = (
    "Triage the Brightwave customer message: reply with one JSON object on one line with the keys "
    f"product ({', '.join(PRODUCTS)}, or null), category (billing, outage, setup, account or hardware), "
    "urgency (low, medium or high), order_id (the BW- order number in the message, or null) "
    "and summary (one short sentence)."
)


def answer_schema() -> dict:
    """The JSON Schema (draft 2020-12) every assistant answer satisfies; written to schema.json."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Brightwave ticket triage",
        "description": "One ticket as the assistant writes it: json.dumps of an object with these keys, in this order.",
        "type": "object",
        "properties": {
            "product": {"type": ["string", "null"], "enum": PRODUCTS + [None],
                        "description": "The Brightwave product the message is about, or null when it names none."},
            "category": {"type": "string", "enum": CATEGORIES},
            "urgency": {"type": "string", "enum": URGENCIES,
                        "description": "From the consequences the customer describes, not from their tone."},
            "order_id": {"type": ["string", "null"], "pattern": ORDER_PATTERN,
                         "description": "Copied exactly from the message, or null when it has none."},
            "summary": {"type": "string", "minLength": 1, "maxLength": SUMMARY_MAX_CHARS,
                        "description": "One neutral sentence starting 'Customer'."},
        },
        "required": KEYS,
        "additionalProperties": False,
    }


# --------------------------------------------------------------------------
# Devices: which products a scenario can be about, and the generic words a
# customer uses when they name none (product null).
# --------------------------------------------------------------------------

THERMOSTATS = [d for d in SMART_DEVICES if d not in PLUGS + CAMERAS]
REMOTES = [d for d in BATTERY_DEVICES if d not in ALL_DEVICES]
POOLS = {
    "router": (ROUTERS, ["router", "Wi-Fi box"]),
    "camera": (CAMERAS, ["camera", "security camera"]),
    "plug": (PLUGS, ["smart plug"]),
    "thermostat": (THERMOSTATS, ["thermostat"]),
    "remote": (REMOTES, ["remote"]),
    "battery": (BATTERY_DEVICES, ["device"]),
    "any": (PRODUCTS, ["device"]),
}
GENERIC_SHARE = 0.2  # share of rows naming no product, where a scenario allows it


def aliases(product: str) -> list[str]:
    """How customers write a product: in full, without the brand where the rest is distinctive, in lower case."""
    forms = [product]
    short = product.removeprefix("Brightwave ")
    if short != product and short != "Remote":
        forms.append(short)
    forms.append(forms[-1].lower() if short != "Remote" else "Brightwave remote")
    return forms


# --------------------------------------------------------------------------
# Urgency sentences, per category. The last of each list is held out for the
# test split. Medium also allows no urgency sentence at all ("").
# --------------------------------------------------------------------------

CUES = {
    "billing": {
        "low": ["No rush, it's a small amount.", "Not urgent at all, whenever someone has a minute.",
                "It can wait until the next bill, honestly.",
                "Annoying, but there's no hurry, I'm not short of money.",
                "Take your time on this one, it isn't affecting me right now."],
        "medium": ["I'd like it sorted this week if possible.",
                   "I'm honestly fed up, this is the second time I've written.",
                   "Could someone look at it in the next few days?"],
        "high": ["Money is tight and my rent goes out tomorrow, so I need this fixed today.",
                 "I'm on a fixed income and this has left me short for groceries this week.",
                 "My bank starts charging overdraft fees tonight if this isn't sorted.",
                 "That money was for my kid's school trip, and it has to be paid by tomorrow morning."],
    },
    "outage": {
        "low": ["We're away until Sunday, so no rush.", "Not urgent, we mostly use our phones anyway.",
                "It only matters for the TV in the evening, so no hurry.",
                "Honestly infuriating, but we can manage on mobile data for a few days.",
                "There's no hurry, nobody's home this week."],
        "medium": ["We're managing on phone data, but it's a nuisance.", "Really fed up with this.",
                   "Would be good to have it back by the weekend."],
        "high": ["I work from home and have a client call in an hour.",
                 "My dad's medical alarm runs over this connection and he lives alone.",
                 "I run a small shop from home and the card reader needs the internet.",
                 "I hate to rush anyone, but I have a job interview on video in 40 minutes.",
                 "I've got an online exam at 2 pm today and can't sit it without the internet."],
    },
    "setup": {
        "low": ["No rush, I'm just planning ahead.", "Not urgent, it's for a project next month.",
                "Whenever you get a chance is fine.",
                "There's no hurry at all, I'm only reading up for later."],
        "medium": ["Hoping to get it done this week.", "Been at this for an hour and I'm getting fed up.",
                   "I'd like it running before the weekend."],
        "high": ["We fly out at 6 tomorrow morning and I need this working before we leave.",
                 "I start a work-from-home job tomorrow at 8 and need everything running tonight.",
                 "I need this done today, I leave on a two-week work trip tonight.",
                 "The house sitter arrives in two hours and it all has to be ready for her."],
    },
    "account": {
        "low": ["Not urgent, the internet itself works fine.", "No rush, just tidying things up.",
                "Whenever you get round to it is fine.",
                "This can wait a week or two, nothing depends on it."],
        "medium": ["I'd like it sorted in the next day or two.", "Frankly I'm tired of chasing this.",
                   "Please get to it this week if you can."],
        "high": ["I fly out in three hours and won't be able to sort this from abroad.",
                 "I go into hospital tomorrow morning for a week, so this has to be done today.",
                 "I move abroad tomorrow and won't be able to sort it out from there.",
                 "I start a month offshore tonight with no signal, so it has to happen in the next few hours."],
    },
    "hardware": {
        "low": ["It's a spare, so no rush.", "Not urgent, we don't really need it until winter.",
                "No hurry at all, it's more of an annoyance.",
                "Whenever is fine, we've got a backup in the meantime."],
        "medium": ["I'd like a fix or a replacement this week.", "Frankly, I expected better from you.",
                   "Hoping to hear back in the next few days."],
        "high": ["It got really hot and there's a burning smell.",
                 "There was a small spark from it when I plugged it in this morning.",
                 "It's right next to my baby's cot and I don't trust it any more.",
                 "The case has started to swell and I'm worried it might catch fire."],
    },
}

# Order numbers in scenarios whose templates do not place one themselves. The equipment and new-router
# sentences say "router" without naming a product: product stays null for them.
ORDER_SENTENCES = ["Order {order}.", "The order number is {order}.", "It's order {order}, if that helps.",
                   "Ref: {order}."]
RETURNED_EQUIPMENT = ["I sent the equipment back too, order {order}.", "The router went back under order {order}."]
NEW_CUSTOMER = ["We only got the router last week, order {order}.", "We're new customers, our order was {order}."]
CHECK_ORDER = ["I need to get in to check on order {order}.", "I'm trying to track order {order}."]
# Numbers that are not order numbers, and a missing order number: order_id stays null.
DISTRACTORS = ["My account number is {acct}.", "I already opened ticket #{ticket} about this."]
NO_ORDER = "I don't have the order number to hand, sorry."
GREETING = r"(Hi|Hello|Good)\b"  # how a polite template opens
GREETINGS = ["Hi. ", "Hello! ", "Hey there. ", "Good morning. ", "Hi team. "]
SIGN_OFFS = [" Thanks, {name}.", " Cheers.", " Thanks in advance.", " — {name}"]
MISSPELLINGS = {"because": "becuase", "until": "untill", "tomorrow": "tommorow", "anything": "anythign",
                "internet": "interent", "account": "acount", "working": "wroking", "please": "pls",
                "really": "realy", "since": "sinse", "someone": "somone", "honestly": "honestley"}
SURNAMES = ["Okafor", "Nguyen", "Kowalski", "Haddad", "Moreau", "Larsen", "Ortega", "Tanaka"]
WHEN = ["this morning", "last night", "lunchtime", "yesterday evening", "about 6 am"]
DAYS = ["two", "three", "four", "five"]
MONTHS_OWNED = ["3", "5", "8", "10", "11"]

# --------------------------------------------------------------------------
# Scenarios: five message templates each (polite, casual, terse, angry and a
# tricky one with a misleading word or a negation), the category, which
# device the {device} slot draws from, how often an order number is added
# (1.0: the templates place {order} themselves), extra slots, and the
# summary, a format string over the slots ({thing}: the product, or the
# generic word the customer used).
# --------------------------------------------------------------------------

SCENARIOS: list[dict] = []


def sentences(text: str) -> int:
    return len(re.split(r"(?<=[.?!])\s+", text.strip()))


# A message is at most four sentences (plus a greeting or sign-off): a template of one or two, then at most one
# order-number sentence and one urgency sentence.
assert all(sentences(s) == 1 for s in ORDER_SENTENCES + RETURNED_EQUIPMENT + NEW_CUSTOMER + CHECK_ORDER
           + DISTRACTORS + [NO_ORDER] + [c for levels in CUES.values() for cs in levels.values() for c in cs])


def scenario(name, category, templates, summary, *, device=None, order=0.0, order_sentences=ORDER_SENTENCES,
             slots=None, urgencies=None):
    assert len(templates) == 5, name
    fields = set(re.findall(r"{(\w+)}", summary)) - {"thing"}
    for t in templates:
        assert sentences(t) <= 2, t
        used = set(re.findall(r"{(\w+)}", t))
        # The summary may only repeat what every message says.
        assert fields <= used and ("{thing}" not in summary or "device" in used), (name, t)
        assert ("order" in used) == (order == 1.0), (name, t)
    SCENARIOS.append({"name": name, "category": category, "templates": templates, "summary": summary,
                      "device": device, "order": order, "order_sentences": order_sentences,
                      "slots": slots or (lambda r: {}),
                      "urgencies": urgencies or URGENCIES})


# --- billing ---------------------------------------------------------------

scenario("refund_returned", "billing", [
    "Hello, I returned the {device} from order {order} two weeks ago. Could you tell me when the {amount} refund "
    "will reach my card?",
    "sent the {device} back ages ago (order {order}), still no sign of my {amount}. whats going on",
    "Refund for returned {device}, order {order}, {amount}.",
    "You've had the {device} back for two weeks and I STILL don't have my {amount}. Order {order}.",
    "The {device} worked perfectly, so this isn't a fault report. I sent it back under order {order} and want the "
    "{amount} refunded.",
], "Customer is waiting for a {amount} refund for a returned {thing}.", device="any", order=1.0,
    slots=lambda r: {"amount": money(r)})

scenario("double_charge", "billing", [
    "Hi, I think I've been charged {amount} twice for {month}. Could you check my account, please?",
    "pretty sure you took {amount} from me twice in {month}??",
    "Double charge, {month}, {amount}.",
    "Two payments of {amount} in {month}. Do you people even check what you bill?",
    "My internet has been fine all {month}, no complaints there. The problem is the two identical {amount} charges "
    "on my statement.",
], "Customer reports a duplicate {amount} charge in {month}.", order=0.8,
    slots=lambda r: {"amount": money(r), "month": r.choice(MONTHS)})

scenario("late_fee", "billing", [
    "Good afternoon, there's a late fee on my {month} bill even though I paid on time. Could you look into it?",
    "why is there a late fee on {month}?? i paid the day it was due",
    "Late fee on {month} bill. Paid on time.",
    "A late fee on my {month} bill when I've paid on time for six years? Take it off.",
    "Not a problem with the service itself, that's been great. I just don't understand the late fee on my {month} "
    "bill.",
], "Customer disputes a late fee on the {month} bill.", slots=lambda r: {"month": r.choice(MONTHS)})

scenario("price_increase", "billing", [
    "Hello, my {plan} bill is higher this month and I didn't get any notice. Could you explain the increase?",
    "my {plan} bill went up out of nowhere, what's that about",
    "{plan} price went up. Why?",
    "Nobody told me my {plan} price was going up. Sneaky, and I want the old price back.",
    "The {plan} speeds are fine, I'm not reporting a fault. It's the bill: it jumped this month without warning.",
], "Customer asks why the {plan} bill went up without notice.", slots=lambda r: {"plan": r.choice(PLANS)})

scenario("unexpected_device_charge", "billing", [
    "Hi, my latest bill includes a charge for a {device}, but I never ordered one. Could you remove it?",
    "theres a {device} on my bill?? never bought one",
    "Bill shows a {device} I didn't order.",
    "I did NOT order a {device}, so why am I paying for one? Fix my bill.",
    "No {device} has arrived here and nothing's broken. I just want the charge for it taken off my bill.",
], "Customer disputes a bill charge for a {thing} they never ordered.", device="any", order=0.9)

scenario("charged_after_cancel", "billing", [
    "Hello, I cancelled my {plan} plan in {month}, but I've just been charged {amount} again. Could you refund it?",
    "cancelled {plan} back in {month} and you still took {amount}, how",
    "Cancelled {plan} in {month}, still charged {amount}.",
    "I cancelled {plan} in {month} and you charged me {amount} anyway. Is this a joke?",
    "I'm not asking to rejoin or to set anything up again. I left {plan} in {month} and you charged me {amount} "
    "after that.",
], "Customer was charged {amount} after cancelling {plan} in {month}.", order=0.7,
    order_sentences=RETURNED_EQUIPMENT,
    slots=lambda r: {"plan": r.choice(PLANS), "month": r.choice(MONTHS), "amount": money(r)})

scenario("outage_credit", "billing", [
    "Hi, the internet was down for {days} days last week. It's working again now, so could I get a credit on my "
    "bill?",
    "we had no internet for {days} days last week, back now, do i get money off?",
    "Bill credit please, {days}-day outage last week.",
    "That was {days} days without internet and you still want full price? Credit my account.",
    "The outage is over, so this isn't a fault report. I'd like money back for the {days} days we were without "
    "service.",
], "Customer requests a bill credit for {days} days without service.", slots=lambda r: {"days": r.choice(DAYS)})

scenario("final_bill_fee", "billing", [
    "Hello, I moved out of {city} in {month} and my final bill has a cancellation fee of {amount}. Is that right?",
    "final bill after moving out of {city} has a {amount} cancellation fee?? thought i was out of contract",
    "{amount} cancellation fee on final bill, moved from {city} in {month}.",
    "I moved out of {city} in {month} and you slap a {amount} fee on the final bill. Classy.",
    "I don't need service at the new place, so no setup or moving help. Just explain the {amount} fee on my final "
    "bill for {city}.",
], "Customer disputes a {amount} cancellation fee on the final bill.", order=0.7,
    order_sentences=RETURNED_EQUIPMENT,
    slots=lambda r: {"city": r.choice(CITIES)[0], "month": r.choice(MONTHS), "amount": money(r)})

# --- outage ----------------------------------------------------------------

scenario("area_outage", "outage", [
    "Hello, we've had no internet since {when} here in {city} ({zip}). Is there a known problem?",
    "internet's been dead since {when}, {city} {zip}. is it just us?",
    "No internet since {when}. ZIP {zip}.",
    "Since {when} nothing works at ZIP {zip}. What exactly am I paying you for?",
    "The lights on my {device} all look normal and I haven't touched any settings. There's just no internet since "
    "{when}, ZIP {zip}.",
], "Customer reports no internet at ZIP {zip} since {when}.", device="router",
    order=0.5, order_sentences=NEW_CUSTOMER,
    slots=lambda r: dict(zip(("city", "zip"), r.choice(CITIES)), when=r.choice(WHEN)))

scenario("red_light", "outage", [
    "Hi, the light on my {device} has been flashing red since {when} and nothing will connect. Could you help?",
    "{device} blinking red since {when}, no internet at all",
    "Red light on {device}, no internet.",
    "Red light on the {device} AGAIN and no internet. Third time this month.",
    "The {device} isn't damaged or anything and I haven't changed a setting. It just shows red and there's no "
    "connection.",
], "Customer reports a red light on the {thing} and no internet.", device="router",
    order=0.5, order_sentences=NEW_CUSTOMER,
    slots=lambda r: {"when": r.choice(WHEN)})

scenario("dropouts", "outage", [
    "Hello, our connection has been dropping every few minutes since {when}. Is something wrong on your side?",
    "wifi keeps cutting out every couple mins since {when}, super annoying",
    "Connection dropping constantly since {when}.",
    "Since {when} the internet drops every five minutes. I'm sick of it.",
    "Every device drops at once, wired ones too, so it's not a setup thing on my end. It started {when}.",
], "Customer reports the connection dropping repeatedly since {when}.", slots=lambda r: {"when": r.choice(WHEN)})

scenario("slow_evenings", "outage", [
    "Hi, I'm on {plan} but every evening the speed drops to almost nothing. Could you check the line?",
    "paying for {plan} and getting like 2 Mbps every night lol",
    "{plan}, speeds near zero every evening.",
    "I pay for {plan} and every evening I get dial-up speeds. Pathetic.",
    "This isn't about the price of {plan}, the bill is fine. The problem is the speed falls to almost nothing every "
    "evening.",
], "Customer reports near-zero speeds on {plan} every evening.", slots=lambda r: {"plan": r.choice(PLANS)})

scenario("storm", "outage", [
    "Good morning, since the storm on {day} our whole street has been without internet. Could you tell us when it "
    "will be back?",
    "storm on {day} and now no internet on our whole street. any eta?",
    "Street-wide outage since {day}'s storm.",
    "Your cables clearly didn't survive {day}'s storm. Whole street has been offline since.",
    "Our router and everything in the house is fine, we checked. The whole street has had no internet since the "
    "storm on {day}.",
], "Customer reports their street without internet since the storm on {day}.",
    slots=lambda r: {"day": r.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"])})

scenario("camera_offline", "outage", [
    "Hello, my {device} has been offline since {when}, and the app says our home internet is down. Is there an "
    "outage?",
    "{device} offline since {when}, turns out the whole internet is down. whats happening",
    "Internet down since {when}, {device} offline.",
    "My {device} is useless because YOUR internet has been down since {when}.",
    "The {device} itself is fine, it's not a camera fault. The home internet has been down since {when}, so it "
    "can't connect.",
], "Customer reports home internet down since {when}, leaving the {thing} offline.", device="camera",
    order=0.5, order_sentences=NEW_CUSTOMER,
    slots=lambda r: {"when": r.choice(WHEN)})

scenario("nothing_changed", "outage", [
    "Hello, our {device} has been set up and working for two years, and since {when} there's no internet. Nothing "
    "has changed on our side.",
    "havent touched anything on the {device} but internet's gone since {when}",
    "No internet since {when}, {device} unchanged.",
    "I didn't move, unplug or reconfigure the {device}, and since {when} the internet is just gone.",
    "Please don't send me setup instructions again, the {device} is set up correctly. The service itself has been "
    "down since {when}.",
], "Customer reports no internet since {when} with nothing changed at home.", device="router",
    slots=lambda r: {"when": r.choice(WHEN)})

scenario("status_page", "outage", [
    "Hi, your status page says everything is fine, but we've had no internet in {city} since {when}. Could you "
    "double-check?",
    "status page says all good but we're down in {city} since {when}. is it wrong?",
    "Status page wrong? {city} down since {when}.",
    "Your status page claims no problems in {city}. We've been offline since {when}, so it's lying.",
    "I'm not asking about my account or the app, I can log in fine. The internet itself has been down in {city} "
    "since {when}.",
], "Customer reports an outage in {city} since {when}.",
    slots=lambda r: {"city": r.choice(CITIES)[0], "when": r.choice(WHEN)})

# --- setup -----------------------------------------------------------------

scenario("pair_camera", "setup", [
    "Hello, I've just bought a {device} for the {spot}. Could you explain how to connect it to the app?",
    "how do i pair the new {device}? want it on the {spot}",
    "Pair {device}, {spot}.",
    "The instructions for the {device} are useless. How do I get it connected to watch the {spot}?",
    "Our internet went down for a bit yesterday but it's back and fine now. Anyway: how do I add the new {device} "
    "for the {spot} to the app?",
], "Customer asks how to pair the {thing} for the {spot} with the app.", device="camera", order=0.85,
    slots=lambda r: {"spot": r.choice(CAM_SPOTS)})

scenario("plug_setup", "setup", [
    "Hi, I've got a {device} for the lamp in the {room}. How do I set it up?",
    "just got a {device} for the {room}, how does the setup work",
    "{device} setup, {room}.",
    "Spent an hour trying to set up the {device} in the {room}. Why is this so hard?",
    "Not a billing question, and the plug isn't faulty. I just can't work out how to get the {device} in the {room} "
    "onto the app.",
], "Customer asks how to set up the {thing} in the {room}.", device="plug", order=0.85,
    slots=lambda r: {"room": r.choice(ROOMS)})

scenario("extend_coverage", "setup", [
    "Hello, our Wi-Fi doesn't reach the {room}. Could you explain how to set up the {device} so it covers that "
    "room?",
    "wifi doesn't reach the {room}, can the {device} be set up to fix that?",
    "Wi-Fi coverage for the {room}, {device}.",
    "Paid for a {device} and the Wi-Fi STILL doesn't reach the {room}. How do I set this thing up properly?",
    "It's not an outage, the internet is fine downstairs. The Wi-Fi just doesn't reach the {room}; what settings on "
    "the {device} should I change?",
], "Customer asks how to set up the {thing} to cover the {room}.", device="router", order=0.7,
    slots=lambda r: {"room": r.choice(ROOMS)})

scenario("port_forward", "setup", [
    "Hello, I'm hosting {purpose} at home. How do I open port {port} on my {device}?",
    "need port {port} open on the {device} for {purpose}, how",
    "Open port {port}, {device}, {purpose}.",
    "Your {device} blocks port {port} and nobody can reach {purpose}. How do I change that?",
    "Internet's working fine, no outage here. I only need port {port} open on the {device} so friends can reach "
    "{purpose}.",
], "Customer asks how to open port {port} on the {thing} for {purpose}.", device="router", order=0.7,
    slots=lambda r: dict(zip(("purpose", "port"), r.choice(PURPOSES))))

scenario("thermostat_schedule", "setup", [
    "Hello, could you show me how to schedule the {device} to reach {temp}°F at {at}?",
    "want the {device} at {temp} every day at {at}, where's that setting",
    "{device} schedule: {temp}°F at {at}.",
    "I just want the {device} at {temp}°F at {at}. Why is the schedule screen so confusing?",
    "The {device} works fine, nothing's broken. I just need it set to {temp}°F every day at {at}.",
], "Customer asks how to schedule the {thing} for {temp}°F at {at}.", device="thermostat", order=0.8,
    slots=lambda r: {"temp": r.choice(TEMPS), "at": r.choice(SCHEDULE_TIMES)})

scenario("new_router_install", "setup", [
    "Hi, my new {device} arrived today. What's the best way to install it?",
    "new {device} just showed up, how do i get it going",
    "Install help, new {device}.",
    "New {device} arrived with zero instructions. How am I supposed to install it?",
    "It arrived in perfect condition, nothing's damaged. I just don't know how to install the new {device}.",
], "Customer asks how to install a newly delivered {thing}.", device="router", order=0.9)

scenario("rename_wifi", "setup", [
    "Hello, how do I change the network name on my {device} to \"{ssid}\"?",
    "wanna rename my wifi to {ssid}, got the {device}",
    "Rename Wi-Fi to {ssid}, {device}.",
    "The {device} still shows some random network name and I want it to be {ssid}. How?",
    "The internet dropped for ten minutes this morning, but that's not why I'm writing. How do I rename the Wi-Fi "
    "on the {device} to {ssid}?",
], "Customer asks how to rename the Wi-Fi network to {ssid}.", device="router", order=0.7,
    slots=lambda r: {"ssid": r.choice(SSIDS)})

scenario("parental_controls", "setup", [
    "Hello, could you explain how to switch off {child}'s internet at {time} on school nights?",
    "how do i cut off {child}'s wifi at {time}? kids won't go to bed",
    "Bedtime schedule for {child}'s devices, {time}.",
    "{child} is online until 2 am every night. How do I make the Wi-Fi stop for them at {time}?",
    "Not reporting a fault, the Wi-Fi works too well if anything. I want {child}'s devices cut off at {time} on "
    "school nights.",
], "Customer asks how to cut off internet for {child} at {time} each night.",
    slots=lambda r: {"child": r.choice(NAMES), "time": r.choice(TIMES)})

# --- account ---------------------------------------------------------------

scenario("password_reset", "account", [
    "Hello, I've forgotten the password for my account ({email}). How can I get back in?",
    "forgot my password again, account is {email}",
    "Password reset, {email}.",
    "Your reset emails never arrive at {email}. I've been locked out all day.",
    "This isn't about my bill, and the internet works. I just can't sign in to my account ({email}) because I forgot "
    "the password.",
], "Customer cannot sign in and needs a password reset for {email}.", order=0.5,
    order_sentences=CHECK_ORDER, slots=lambda r: {"email": email(r)})

scenario("add_user", "account", [
    "Hello, my partner {name} should be able to manage the account too. Could I give them {role} access?",
    "want to give {name} access to our account, {role} is fine",
    "Add user {name}, {role}.",
    "I need {name} on the account with {role} rights and your app hides the option. Ridiculous.",
    "Nothing's broken and the bill is fine. I'd just like {name} added to the account as {role}.",
], "Customer wants to add {name} to the account with {role} access.",
    slots=lambda r: {"name": r.choice(NAMES), "role": r.choice(ROLES)})

scenario("two_factor", "account", [
    "Hello, for extra security I'd like to enable two-step verification using {a_method}. How do I do that?",
    "wanna set up 2FA using {a_method}, where's the setting",
    "2FA with {a_method}, please.",
    "Why is two-factor with {a_method} so hard to find in your app? Turn it on for me.",
    "Not a setup question about any device. I want two-factor sign-in on my account, using {a_method}.",
], "Customer wants two-factor authentication on the account using {a_method}.",
    slots=lambda r: (lambda m: {"a_method": ("an " if m[0] in "ae" else "a ") + m})(r.choice(TWO_FA)))

scenario("change_email", "account", [
    "Hi, could you help me change the contact email on my account to {email}?",
    "need to update my account email to {email}, old one's dead",
    "New account email: {email}.",
    "I've tried three times to change my email to {email} and your site keeps erroring. Ridiculous.",
    "Not a billing question, though the bills do go to the old address. I just need the account email changed to "
    "{email}.",
], "Customer wants the account contact email changed to {email}.", slots=lambda r: {"email": email(r)})

scenario("suspicious_login", "account", [
    "Hello, I got an alert about a sign-in to my account from {country}, where I've never been. What should I do?",
    "got an email saying someone logged in from {country}?? wasn't me",
    "Unknown sign-in from {country}.",
    "Someone in {country} has been in my account and your security let them. Explain.",
    "My internet's fine and the bill is right, so it's not that. It's the sign-in from {country} on my account that "
    "I don't recognise.",
], "Customer reports an unrecognised sign-in to their account from {country}.",
    slots=lambda r: {"country": r.choice(COUNTRIES)}, urgencies=["medium", "high"])

scenario("app_login", "account", [
    "Hi, since yesterday I can't sign in to the Brightwave app on my {phone}. Could you help?",
    "app won't let me log in on my {phone}, keeps saying login failed",
    "App login fails, {phone}.",
    "The app on my {phone} says 'login failed' every single time. Fix your app.",
    "Internet and Wi-Fi are working, so no outage. It's only the Brightwave app on my {phone} that won't sign me in.",
], "Customer cannot sign in to the Brightwave app on their {phone}.", order=0.5,
    order_sentences=CHECK_ORDER,
    slots=lambda r: {"phone": r.choice(PHONES)[0]})

scenario("remove_user", "account", [
    "Hello, {name} no longer lives with us. Could you remove them from our account?",
    "need to take {name} off the account, they moved out",
    "Remove {name} from account.",
    "I asked weeks ago to get {name} off my account and they can still see everything. Remove them.",
    "Nothing wrong with the bill or the service. I just need {name}'s access to the account removed.",
], "Customer asks to remove {name}'s access to the account.", slots=lambda r: {"name": r.choice(NAMES)})

scenario("name_change", "account", [
    "Hello, I recently got married and need the name on the account changed to {full}. What do you need from me?",
    "need the account holder name changed to {full}, got married",
    "Account name change to {full}.",
    "I've sent proof twice and the account STILL says the wrong name. It should be {full}.",
    "Not a billing issue, every bill is paid. I only need the account holder's name changed to {full}.",
], "Customer asks to change the account holder's name to {full}.",
    slots=lambda r: {"full": f"{r.choice(NAMES)} {r.choice(SURNAMES)}"}, urgencies=["low", "medium"])

# --- hardware --------------------------------------------------------------

scenario("not_charging", "hardware", [
    "Hello, my {other} charges fine on the same cable, but the {device} won't charge at all. What can I do?",
    "{device} not charging anymore, tried 3 different sockets",
    "{device} won't charge.",
    "Brand new {device} and it already refuses to charge. Unacceptable.",
    "I don't want a refund, just a {device} that works: it stopped charging last week.",
], "Customer reports the {thing} no longer charges.", device="battery", order=0.85)

scenario("damaged_on_arrival", "hardware", [
    "Hi, my {device} from order {order} arrived with a cracked case. Could you send a replacement?",
    "{device} came today (order {order}) and the casing is smashed",
    "Order {order}: {device} arrived broken.",
    "Order {order} turned up with the {device} in pieces. Who packed this?",
    "Please don't refund order {order}, I want the {device} itself. It arrived with a cracked case and I need a "
    "working one.",
], "Customer reports the {thing} from their order arrived damaged.", device="any", order=1.0)

scenario("router_dead", "hardware", [
    "Hello, my {device} shows no lights at all, even on a different socket. Is it faulty?",
    "{device} completely dead, no lights, tried another plug",
    "{device} won't power on.",
    "My {device} is totally dead, no lights, nothing. Great product.",
    "It's not an outage, the neighbours are online and so is my phone. The {device} itself won't power on, no lights "
    "at all.",
], "Customer reports the {thing} will not power on at all.", device="router", order=0.8)

scenario("camera_night", "hardware", [
    "Hi, the night video from my {device} has become blurry. Is the camera faulty?",
    "{device} night vision is all blurry now, daytime's fine",
    "{device} night video blurry.",
    "Paid good money for the {device} and its night video is a blurry mess.",
    "My Wi-Fi is strong right next to it, so it's not a connection issue. The {device}'s night video is just blurry.",
], "Customer reports blurry night video from the {thing}.", device="camera", order=0.85)

scenario("plug_clicking", "hardware", [
    "Hello, my {device} in the {room} keeps switching itself on and off. Could it be faulty?",
    "the {device} in the {room} keeps clicking on and off by itself??",
    "{device} in {room} switching on and off.",
    "The {device} in the {room} clicks on and off all night. Fix it or replace it.",
    "I checked and there's no schedule set in the app, so it's not my setup. The {device} in the {room} flips on and "
    "off by itself.",
], "Customer reports the {thing} in the {room} switching on and off by itself.", device="plug", order=0.85,
    slots=lambda r: {"room": r.choice(ROOMS)})

scenario("thermostat_reading", "hardware", [
    "Hi, my {device} says it's {temp}°F but the room is clearly much colder. Is the sensor broken?",
    "{device} shows {temp} but the house is freezing",
    "{device} reading wrong, shows {temp}°F.",
    "The {device} insists it's {temp}°F while we sit here in coats. It's broken.",
    "I've checked the schedule and settings twice, it's not that. The {device} reads {temp}°F when the room is far "
    "colder.",
], "Customer reports the {thing} reading {temp}°F in a much colder room.", device="thermostat", order=0.8,
    slots=lambda r: {"temp": r.choice(TEMPS)})

scenario("warranty_replacement", "hardware", [
    "Hello, my {device} stopped working after {months} months. Is it still under warranty?",
    "{other} still going strong but the {device} died after {months} months, warranty covers that right?",
    "Warranty claim: {device} failed after {months} months.",
    "{months} months and the {device} is already dead. It had better be under warranty.",
    "I'm not after my money back. The {device} stopped working after {months} months and I'd like it replaced under "
    "warranty.",
], "Customer asks for a warranty replacement of a {thing} that failed at {months} months.", device="any",
    order=0.9, slots=lambda r: {"months": r.choice(MONTHS_OWNED)})

scenario("remote_buttons", "hardware", [
    "Hello, some buttons on my {device} stopped responding, even after I charged it. Could it be faulty?",
    "half the buttons on the {device} don't work anymore",
    "{device} buttons not responding.",
    "The {device} ignores half its buttons and it's less than a year old. Not impressed.",
    "Not a setup or pairing thing, it's paired fine and the other buttons work. A few buttons on the {device} simply "
    "don't respond.",
], "Customer reports some buttons on the {thing} no longer respond.", device="remote", order=0.8)


# --------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------


def sample(rng: random.Random, sc: dict, template: str) -> dict:
    """Slot values for one message: the scenario's own, the device (a product or a generic word), the order."""
    s = sc["slots"](rng)
    s["product"] = None
    if "{device}" in template:
        products, generic = POOLS[sc["device"]]
        # A template that names a second product must name the first one too, or "the product" is ambiguous.
        if "{other}" in template or rng.random() >= GENERIC_SHARE:
            s["product"] = s["thing"] = rng.choice(products)
            s["device"] = rng.choice(aliases(s["product"]))
        else:
            s["device"] = s["thing"] = rng.choice(generic)
        if "{other}" in template:
            s["other"] = rng.choice(aliases(rng.choice([p for p in products if p != s["product"]])))
    s["order"] = order_no(rng) if "{order}" in template or rng.random() < sc["order"] else None
    return s


def typo(rng: random.Random, text: str, protected: set[str]) -> str:
    """One realistic slip in a plain lower-case word that no slot value or product name contains."""
    words = text.split(" ")
    spots = [i for i, w in enumerate(words)
             if re.fullmatch(r"[a-z]{4,}[,.?!]*", w) and w.rstrip(",.?!") not in protected]
    if not spots:
        return text
    i = rng.choice(spots)
    word = words[i].rstrip(",.?!")
    tail = words[i][len(word):]
    if word in MISSPELLINGS:
        word = MISSPELLINGS[word]
    else:
        j = rng.randrange(1, len(word) - 2)
        word = word[:j] + word[j + 1] + word[j] + word[j + 2:]
    words[i] = word + tail
    return " ".join(words)


def render(rng: random.Random, sc: dict, template: str, s: dict, cue: str) -> str:
    body = template.format(**s)
    parts = [body]
    if s["order"] is not None and "{order}" not in template:
        parts.append(rng.choice(sc["order_sentences"]).format(order=s["order"]))
    elif s["order"] is None and rng.random() < 0.15:
        extra = DISTRACTORS + ([NO_ORDER] if sc["order"] > 0 else [])
        parts.append(rng.choice(extra).format(acct=f"{rng.randint(1000, 9999)}-{rng.randint(100, 999)}",
                                              ticket=rng.randint(10000, 99999)))
    if cue:
        # Mostly after the problem, sometimes before it (not before a greeting), as people write.
        first = rng.random() < 0.3 and not re.match(GREETING, body)
        parts.insert(0 if first else len(parts), cue)
    # A casual part written without a full stop still ends its sentence when another follows.
    text = " ".join(p if p[-1] in ".?!" or i == len(parts) - 1 else p + "."
                    for i, p in enumerate(parts))
    if rng.random() < 0.15:
        protected = {w for v in s.values() if isinstance(v, str) for w in v.lower().split()}
        protected |= {w for p in PRODUCTS for w in p.lower().split()}
        text = typo(rng, text, protected)
    roll = rng.random()
    if roll < 0.2 and not re.match(GREETING, text):
        text = rng.choice(GREETINGS) + text
    elif roll > 0.8:
        text += rng.choice(SIGN_OFFS).format(name=rng.choice(NAMES))
    return text


def answer(sc: dict, s: dict, urgency: str) -> str:
    summary = sc["summary"].format(**s)
    obj = {"product": s["product"], "category": sc["category"], "urgency": urgency, "order_id": s["order"],
           "summary": summary}
    return json.dumps(obj, ensure_ascii=False)


def check(sc: dict, s: dict, message: str, reply: str) -> None:
    obj = json.loads(reply)
    assert list(obj) == KEYS, reply
    assert obj["product"] in PRODUCTS + [None] and obj["category"] in CATEGORIES and obj["urgency"] in URGENCIES
    assert obj["order_id"] is None or (re.fullmatch(ORDER_PATTERN, obj["order_id"]) and obj["order_id"] in message)
    assert obj["order_id"] is not None or not re.search(r"BW-\d", message), message
    named = [p for p in PRODUCTS if any(re.search(rf"\b{re.escape(a)}\b", message, re.I) for a in aliases(p))]
    assert obj["product"] in named if obj["product"] else not named, message
    words = len(obj["summary"].split())
    assert SUMMARY_WORDS[0] <= words <= SUMMARY_WORDS[1] and len(obj["summary"]) <= SUMMARY_MAX_CHARS, obj["summary"]
    assert obj["summary"].startswith("Customer ") and obj["summary"].endswith("."), obj["summary"]


def make_row(rng: random.Random, sc: dict, template: str, urgency: str, cues: list[str], seen: set[str]) -> dict:
    for _ in range(TRIES):
        s = sample(rng, sc, template)
        message = render(rng, sc, template, s, rng.choice(cues))
        if message not in seen:
            break
    else:
        raise RuntimeError(f"could not find a fresh message for {sc['name']}")
    reply = answer(sc, s, urgency)
    check(sc, s, message, reply)
    seen.add(message)
    return chat_row(SYSTEM, message, reply)


def cue_pools(category: str, urgency: str) -> tuple[list[str], list[str]]:
    """Train and test urgency sentences: the last one is the test split's; medium may also have none."""
    cues = CUES[category][urgency]
    none = [""] if urgency == "medium" else []
    return cues[:-1] + none, cues[-1:] + none


def generate(rng: random.Random) -> tuple[list[dict], list[dict]]:
    n = len(SCENARIOS)
    train_counts = split_counts(N_TRAIN, n)
    test_counts = split_counts(N_TEST, n)[::-1]
    train, test, seen = [], [], set()
    for k, (sc, n_tr, n_te) in enumerate(zip(SCENARIOS, train_counts, test_counts)):
        templates = sc["templates"]
        # Hold out one template per scenario, rotating so the test split mixes tones.
        held = (len(templates) - 1 - k) % len(templates)
        train_tpls = [t for i, t in enumerate(templates) if i != held]
        levels = sc["urgencies"]
        for i in range(n_tr):
            urgency = levels[(i + k) % len(levels)]
            train.append(make_row(rng, sc, train_tpls[i % len(train_tpls)], urgency,
                                  cue_pools(sc["category"], urgency)[0], seen))
        for j in range(n_te):
            urgency = levels[(j + k) % len(levels)]
            test.append(make_row(rng, sc, templates[held], urgency, cue_pools(sc["category"], urgency)[1], seen))
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def main() -> None:
    train, test = generate(random.Random(SEED))
    for split, rows in (("train", train), ("test", test)):
        labels = [json.loads(r["messages"][2]["content"]) for r in rows]
        for key, values in (("category", CATEGORIES), ("urgency", URGENCIES)):
            missing = set(values) - {a[key] for a in labels}
            assert not missing, f"{split} has no {key} {sorted(missing)}"
    out = output_dir(OUT_DIR)
    print(f"scenarios: {len(SCENARIOS)}")
    write_splits(out, train, test, N_TRAIN, N_TEST)
    (out / "schema.json").write_text(json.dumps(answer_schema(), indent=2, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
    print(f"schema -> {out / 'schema.json'}")


if __name__ == "__main__":
    main()
