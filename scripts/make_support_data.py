#!/usr/bin/env python3
"""Generate the synthetic Brightwave customer-support dataset.

Brightwave is a fictional home-internet and smart-home devices provider,
invented for honed's examples. The dataset teaches a small chat model a
distinctive, consistent house style:

    Hi there, thanks for contacting Brightwave Support.
    1. <step that depends on the question's topic and details>
    2. <step>
    3. <step>
    Reply here if you need anything else. — Brightwave Support

Run from anywhere (stdlib only, fully deterministic):

    python scripts/make_support_data.py [OUT_DIR]

OUT_DIR (default: this repository's examples/data/support) is where the splits go;
the tests regenerate into a temporary folder and compare byte for byte.

Writes examples/data/support/train.jsonl (360 rows) and
examples/data/support/test.jsonl (60 rows). Every topic reserves one of its
question templates for the test split, so test questions are paraphrases
never seen in training while every topic appears in both splits. Which
template is held out rotates from topic to topic (polite, casual, angry,
terse), so the test split covers every tone.
"""

from __future__ import annotations

import random
from pathlib import Path

from synthetic_data import add_tone, generate_splits, output_dir, write_splits

SEED = 13
N_TRAIN = 360
N_TEST = 60
OUT_DIR = Path(__file__).resolve().parents[1] / "examples" / "data" / "support"

SYSTEM = "You are Brightwave's support assistant."
OPENING = "Hi there, thanks for contacting Brightwave Support."
CLOSING = "Reply here if you need anything else. — Brightwave Support"

# --------------------------------------------------------------------------
# Slot pools and company "facts"
# --------------------------------------------------------------------------

ROUTERS = ["Brightwave Hub 2", "Brightwave Mesh Pro", "Brightwave Hub Lite"]
SMART_DEVICES = ["SmartPlug Mini", "SmartPlug Duo", "CamHome 360", "CamHome Mini", "Thermo S"]
ALL_DEVICES = ROUTERS + SMART_DEVICES
PLUGS = ["SmartPlug Mini", "SmartPlug Duo"]
CAMERAS = ["CamHome 360", "CamHome Mini"]
BATTERY_DEVICES = ["CamHome 360", "CamHome Mini", "Thermo S", "Brightwave Remote"]

PLANS = ["Basic 100", "Plus 500", "Max 1000"]
PLAN_PRICE = {"Basic 100": 35, "Plus 500": 55, "Max 1000": 75}
PLAN_SPEED = {"Basic 100": 100, "Plus 500": 500, "Max 1000": 1000}
PLAN_CAP = {"Basic 100": "1 TB", "Plus 500": "2 TB", "Max 1000": "unlimited data"}
STUDENT_PRICE = {"Basic 100": 28, "Plus 500": 44, "Max 1000": 60}  # 20% off

WARRANTY = {d: "2-year" for d in ROUTERS}
WARRANTY.update({d: "1-year" for d in SMART_DEVICES})
WARRANTY["Brightwave Remote"] = "1-year"

NAMES = ["Alex", "Priya", "Jordan", "Mei", "Tomasz", "Fatima", "Diego", "Hannah",
         "Kwame", "Sofia", "Liam", "Aisha", "Noah", "Yuki"]
DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me"]
CITIES = [("Denver", "80203"), ("Austin", "78701"), ("Portland", "97205"),
          ("Tucson", "85701"), ("Raleigh", "27601"), ("Omaha", "68102"),
          ("Boise", "83702"), ("Madison", "53703"), ("Tampa", "33602"),
          ("Spokane", "99201")]
MONTHS = ["January", "February", "March", "April", "May", "June", "July",
          "August", "September", "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
COUNTRIES = ["Spain", "Japan", "Canada", "Mexico", "Italy", "Portugal",
             "Thailand", "Germany", "Brazil", "Australia"]
ROOMS = ["living room", "bedroom", "kitchen", "office", "garage", "hallway"]
CAM_SPOTS = ["front door", "back yard", "driveway", "garage", "nursery", "porch"]
PURPOSES = [("a Minecraft server", 25565), ("Plex", 32400), ("a web server", 8080),
            ("a game server", 27015), ("an FTP server", 21), ("a VPN", 1194)]
ISSUES = ["no signal", "a damaged cable", "a faulty wall socket", "constant dropouts",
          "a loose outdoor cable"]
ROLES = ["Admin", "Member", "Viewer"]
PHONES = [("iPhone", "App Store"), ("iPad", "App Store"), ("Android phone", "Google Play Store"),
          ("Pixel", "Google Play Store"), ("Samsung Galaxy", "Google Play Store")]
CARDS = ["Visa", "Mastercard", "Amex", "Discover"]
SCHOOLS = ["State University", "City College", "Tech Institute", "Lakeside University",
           "Riverside Community College"]
SSIDS = ["CasaNet", "TheHive", "Smith_Home", "NoFreeWifi", "Upstairs5G", "LaserCats",
         "Pretty Fly WiFi", "Home Base"]
GIFT_VALUES = ["$25", "$50", "$75", "$100"]
DURATIONS = ["two weeks", "one month", "two months", "three months"]
TIMES = ["8 pm", "8:30 pm", "9 pm", "9:30 pm", "10 pm"]
TEMPS = ["64", "66", "68", "70", "72"]
SCHEDULE_TIMES = ["6 am", "7 am", "5 pm", "6 pm", "10 pm"]
TWO_FA = ["text message", "authenticator app", "email code"]


def ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suf = "th"
    else:
        suf = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suf}"


def order_no(rng: random.Random) -> str:
    return f"BW-{rng.randint(100000, 999999)}"


def money(rng: random.Random) -> str:
    return f"${rng.randint(20, 260)}.{rng.choice(['00', '49', '99', '50', '15'])}"


def email(rng: random.Random) -> str:
    name = rng.choice(NAMES).lower()
    sep = rng.choice([".", "_", ""])
    return f"{name}{sep}{rng.choice(['smith', 'lee', 'r', 'k', 'home', str(rng.randint(1, 99))])}@{rng.choice(DOMAINS)}"


def gift_code(rng: random.Random) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    part = lambda: "".join(rng.choice(alphabet) for _ in range(4))  # noqa: E731
    return f"BWG-{part()}-{part()}"


# --------------------------------------------------------------------------
# Topics: question templates (one per topic is reserved for test), a slot
# sampler and an answer builder returning the numbered steps.
# --------------------------------------------------------------------------

TOPICS: list[dict] = []


def topic(name, questions, slots, steps):
    assert len(questions) >= 5, name
    TOPICS.append({"name": name, "questions": questions, "slots": slots, "steps": steps})


topic(
    "password_reset",
    [
        "How do I reset my Brightwave password? My login email is {email}.",
        "forgot my password again lol. account is {email}",
        "I've been locked out of my account ({email}) for an hour and your reset page is useless. What do I do?",
        "Password reset for {email}.",
        "Hello, I can't remember the password for my Brightwave account under {email}. Could you help me get back in?",
    ],
    lambda r: {"email": email(r)},
    lambda s: [
        f"Go to brightwave.com/reset and enter {s['email']}.",
        f"Open the reset link we send to {s['email']}; it expires after 30 minutes.",
        "Choose a new password of at least 10 characters, then sign in again.",
    ],
)

topic(
    "router_red_light",
    [
        "My {router} has been blinking red {when}. What does that mean?",
        "red light flashing on the {router}, no internet. help",
        "Why is my {router} blinking red AGAIN? I pay for internet that actually works.",
        "{router} blinking red {when}.",
        "Hi, the light on my {router} keeps flashing red and nothing can connect. Could you tell me how to fix it?",
    ],
    lambda r: {"router": r.choice(ROUTERS),
               "when": r.choice(["since this morning", "since last night", "after a storm",
                                 "for two days", "since the power cut"])},
    lambda s: [
        f"A blinking red light on your {s['router']} means it has lost the line signal.",
        f"Unplug the {s['router']} for 30 seconds, plug it back in and wait 5 minutes.",
        "If it stays red, check the grey cable is pushed firmly into the wall socket.",
    ],
)

topic(
    "refund_request",
    [
        "I'd like a refund for order {order}, which was {amount}.",
        "can i get my {amount} back for {order}? changed my mind",
        "You charged me {amount} for order {order} and I want that money back now.",
        "Refund {order}, {amount}.",
        "Good afternoon, could you please process a refund of {amount} for my order {order}? Thank you.",
    ],
    lambda r: {"order": order_no(r), "amount": money(r)},
    lambda s: [
        f"We have logged a refund request for order {s['order']}.",
        f"The {s['amount']} goes back to your original payment method within 5-7 business days.",
        f"You will get a confirmation email once order {s['order']} is processed.",
    ],
)


def _plan_pair(r):
    a, b = r.sample(PLANS, 2)
    return {"from": a, "to": b}


topic(
    "change_plan",
    [
        "How do I switch from {from} to {to}?",
        "thinking of going from {from} to {to}, how does that work",
        "I've asked twice to move from {from} to {to} and nothing has happened. Sort it out.",
        "Change plan: {from} -> {to}.",
        "Hello, I'm currently on {from} and would like to change to {to}. What do I need to do?",
    ],
    _plan_pair,
    lambda s: [
        f"You can switch from {s['from']} to {s['to']} in the app under Account > Plan.",
        f"{s['to']} costs ${PLAN_PRICE[s['to']]}/month and starts on your next billing date.",
        "There is no fee for changing plans and your equipment stays the same.",
    ],
)


def _bill_days(r):
    a, b = r.sample(range(1, 29), 2)
    return {"cur": ordinal(a), "new": ordinal(b)}


topic(
    "billing_date",
    [
        "My bill comes out on the {cur}. Can I move it to the {new}?",
        "payday is the {new} so billing on the {cur} doesn't work for me. can you change it?",
        "Billing me on the {cur} keeps causing overdraft fees. Move it to the {new}, please, this is ridiculous.",
        "Billing date {cur} to {new}?",
        "Hi, would it be possible to change my billing date from the {cur} of the month to the {new}?",
    ],
    _bill_days,
    lambda s: [
        f"Your bill currently goes out on the {s['cur']} of each month.",
        f"To move it to the {s['new']}, open Account > Billing > Billing date.",
        "Your next bill will be prorated, and the date can be changed once every 6 months.",
    ],
)

topic(
    "slow_wifi",
    [
        "My Wi-Fi is really slow on {plan} with the {router}. Any ideas?",
        "wifi crawling tonight. {plan}, {router}. why??",
        "I'm paying for {plan} and the {router} gives me speeds from 2005. Fix it.",
        "Slow Wi-Fi. {router}, {plan}.",
        "Hello, lately my internet feels sluggish. I'm on the {plan} plan using a {router}. Is there anything I can try?",
    ],
    lambda r: {"plan": r.choice(PLANS), "router": r.choice(ROUTERS)},
    lambda s: [
        f"Run a speed test in the Brightwave app while close to your {s['router']}.",
        f"{s['plan']} reaches up to {PLAN_SPEED[s['plan']]} Mbps over a cable; Wi-Fi is usually lower.",
        f"Restart the {s['router']} and place it up high, away from walls and microwaves.",
    ],
)

topic(
    "setup_smart_plug",
    [
        "How do I set up my new {plug} in the {room}?",
        "just got a {plug} for the {room}, how do i get it working",
        "I've tried for an hour to set up this {plug} in my {room} and the app won't find it. Useless.",
        "{plug} setup, {room}.",
        "Hi there, I'd like to install a {plug} in my {room}. Could you walk me through the setup?",
    ],
    lambda r: {"plug": r.choice(PLUGS), "room": r.choice(ROOMS)},
    lambda s: [
        f"Plug the {s['plug']} into a socket in the {s['room']} and wait for the light to flash blue.",
        f"In the Brightwave app, tap Add Device > {s['plug']} and follow the prompts.",
        f"Connect it to your 2.4 GHz Wi-Fi and name it \"{s['room'].capitalize()} plug\".",
    ],
)

topic(
    "cancel_subscription",
    [
        "I want to cancel my {plan} subscription.",
        "how do i cancel {plan}? moving in with my partner and we only need one",
        "Cancel my {plan} plan today. I'm done with Brightwave.",
        "Cancel {plan}.",
        "Hello, could you let me know how to end my {plan} service, please?",
    ],
    lambda r: {"plan": r.choice(PLANS)},
    lambda s: [
        f"You can cancel {s['plan']} in the app under Account > Plan > Cancel.",
        f"Your {s['plan']} service stays active until the end of your current billing month.",
        "Return your router within 30 days using the prepaid label we email you.",
    ],
)


def _move(r):
    city, zipc = r.choice(CITIES)
    return {"city": city, "zip": zipc, "month": r.choice(MONTHS)}


topic(
    "move_service",
    [
        "I'm moving to {city} ({zip}) in {month}. Can I take my Brightwave service with me?",
        "moving house in {month}, new place is in {city} {zip}. what do i do about internet",
        "I told you weeks ago I'm moving to {city} in {month} and still nobody has called me. What's going on?",
        "Move service to {city}, ZIP {zip}, in {month}.",
        "Good morning, we are relocating to {city}, ZIP {zip}, in {month}. How do we transfer our internet?",
    ],
    _move,
    lambda s: [
        f"Tell us your new address in {s['city']} at brightwave.com/move at least 14 days before your {s['month']} move.",
        f"We will check coverage for ZIP {s['zip']} and confirm an installation date.",
        "Take your router with you; moving is free on all plans.",
    ],
)

topic(
    "parental_controls",
    [
        "How do I set up parental controls for {child}? I want the Wi-Fi off at {time}.",
        "need to stop {child} gaming all night. can the wifi turn off at {time}?",
        "{child} is online until 2 am every night and your router has no obvious controls. How do I cut it off at {time}?",
        "Parental controls for {child}, pause at {time}.",
        "Hi, I'd like to limit my child {child}'s internet and pause it at {time} on school nights. How can I do that?",
    ],
    lambda r: {"child": r.choice(NAMES), "time": r.choice(TIMES)},
    lambda s: [
        f"In the Brightwave app, go to Family > Profiles and add a profile for {s['child']}.",
        f"Assign {s['child']}'s devices to the profile and switch on the content filter.",
        f"Under Schedules, set a Wi-Fi pause from {s['time']} each night.",
    ],
)


def _cap_steps(s):
    plan = s["plan"]
    if plan == "Max 1000":
        third = "There is never an overage charge, so you never pay extra for usage."
    else:
        third = "If you go over, we add 50 GB blocks at $10 each and text you first."
    return [
        f"Your {plan} plan includes {PLAN_CAP[plan]} each month.",
        "You can check your current usage in the app under Usage.",
        third,
    ]


topic(
    "data_cap",
    [
        "Is there a data cap on {plan}?",
        "how much data do i get on {plan}? kids stream a LOT",
        "I just got a warning about my data on {plan}. Nobody told me there was a limit!",
        "{plan} data limit?",
        "Hello, before I upgrade, could you confirm how much monthly data comes with {plan}?",
    ],
    lambda r: {"plan": r.choice(PLANS)},
    _cap_steps,
)


def _city(r):
    city, zipc = r.choice(CITIES)
    return {"city": city, "zip": zipc}


topic(
    "outage_check",
    [
        "Is there an outage in {city}? My ZIP is {zip}.",
        "internet's down in {city} ({zip}), is it just me?",
        "Whole street in {city} has no internet AGAIN. ZIP {zip}. When will it be fixed?",
        "Outage? {city} {zip}.",
        "Hi, my connection dropped about an hour ago. Could you check whether there's a known problem in {city}, ZIP {zip}?",
    ],
    _city,
    lambda s: [
        f"Check brightwave.com/status and enter ZIP {s['zip']} for live updates on {s['city']}.",
        "If an outage is listed, we will text you as soon as service is back.",
        "If nothing is listed, restart your router and reply with the light colours you see.",
    ],
)

topic(
    "return_device",
    [
        "How do I return the {device} from order {order}?",
        "the {device} isn't for me. want to send it back, order {order}",
        "This {device} is junk. I want to return it today. Order {order}.",
        "Return {device}, order {order}.",
        "Hello, I'd like to send back the {device} I bought (order {order}). What is the process?",
    ],
    lambda r: {"device": r.choice(ALL_DEVICES), "order": order_no(r)},
    lambda s: [
        f"You can return the {s['device']} within 30 days of delivery.",
        f"Go to brightwave.com/returns and enter order {s['order']} to print a free label.",
        f"Your refund is issued 5 business days after the {s['device']} reaches our warehouse.",
    ],
)

topic(
    "warranty",
    [
        "Is my {device} still under warranty? It {problem}.",
        "my {device} {problem}. covered by warranty?",
        "Barely a year old and the {device} {problem}. You'd better replace it under warranty.",
        "Warranty claim: {device}, {problem}.",
        "Good evening, my {device} {problem}. Could you tell me what the warranty covers?",
    ],
    lambda r: {"device": r.choice(ALL_DEVICES),
               "problem": r.choice(["stopped turning on", "keeps rebooting", "has a cracked case",
                                    "won't connect anymore", "makes a buzzing noise"])},
    lambda s: [
        f"The {s['device']} comes with a {WARRANTY[s['device']]} warranty from the delivery date.",
        f"Send us the serial number from the label on your {s['device']}.",
        "If the fault is covered, we ship a replacement before you return the old one.",
    ],
)

topic(
    "firmware_update",
    [
        "How do I update the firmware on my {device}?",
        "is there a firmware update for the {device}? it's acting weird",
        "The app keeps nagging me to update my {device} and then the update fails. What now?",
        "{device} firmware update.",
        "Hello, could you explain how to install the latest software on my {device}?",
    ],
    lambda r: {"device": r.choice(ALL_DEVICES)},
    lambda s: [
        f"In the Brightwave app, select your {s['device']} and tap Settings > Firmware.",
        f"Tap Update now and keep the {s['device']} powered on for about 10 minutes.",
        "Updates also install automatically each night between 2 and 4 a.m.",
    ],
)

topic(
    "pair_camera",
    [
        "How do I pair my {cam} to watch the {spot}?",
        "trying to connect my new {cam} for the {spot}, app can't see it",
        "Spent all evening trying to pair this {cam} for the {spot}. Why is it so hard?",
        "Pair {cam}, {spot}.",
        "Hi, I've just bought a {cam} for the {spot}. Could you explain how to pair it with the app?",
    ],
    lambda r: {"cam": r.choice(CAMERAS), "spot": r.choice(CAM_SPOTS)},
    lambda s: [
        f"Hold the reset button on your {s['cam']} for 5 seconds until the light blinks green.",
        f"In the Brightwave app, tap Add Device > {s['cam']} and scan the QR code on its base.",
        f"Pair it near the router, then mount it to cover the {s['spot']}.",
    ],
)

topic(
    "invoice_copy",
    [
        "Can I get a copy of my invoice for {month} {year}?",
        "need my {month} {year} bill for expenses, where is it",
        "I've asked three times for my {month} {year} invoice. Why is this so difficult?",
        "Invoice, {month} {year}.",
        "Hello, my accountant needs the Brightwave invoice from {month} {year}. How can I download it?",
    ],
    lambda r: {"month": r.choice(MONTHS), "year": r.choice(["2023", "2024", "2025"])},
    lambda s: [
        "In the app or on brightwave.com, go to Billing > Invoices.",
        f"Select {s['month']} {s['year']} and tap Download PDF.",
        "Reply with a company name if you need it added, and we will resend it within 1 business day.",
    ],
)

topic(
    "payment_failed",
    [
        "My payment of {amount} on the card ending {last4} failed. What should I do?",
        "got an email saying my {amount} payment didn't go through? card ends {last4}",
        "Your system declined my {amount} payment on card {last4} and there's plenty of money on it. Explain.",
        "Payment failed, {amount}, card {last4}.",
        "Hi, I received a notice that the {amount} charge to my card ending in {last4} was unsuccessful. How do I fix this?",
    ],
    lambda r: {"amount": money(r), "last4": f"{r.randint(0, 9999):04d}"},
    lambda s: [
        f"Your payment of {s['amount']} with the card ending {s['last4']} was declined by the bank.",
        "Update or retry the card under Billing > Payment methods.",
        "You have 7 days before a late fee applies, and your service stays on.",
    ],
)

topic(
    "add_user",
    [
        "How can I add {name} to my account with {role} access?",
        "want to give {name} access to our brightwave account, {role} is fine",
        "I need {name} on the account with {role} rights and I can't find the option anywhere.",
        "Add user {name}, {role}.",
        "Hello, my partner {name} should be able to manage the account too. Could I give them {role} access?",
    ],
    lambda r: {"name": r.choice(NAMES), "role": r.choice(ROLES)},
    lambda s: [
        "In the Brightwave app, go to Account > People > Invite.",
        f"Enter {s['name']}'s email address and choose {s['role']} access.",
        f"{s['name']} will get an invite link that is valid for 7 days.",
    ],
)

topic(
    "change_wifi_name",
    [
        "How do I rename my Wi-Fi network on the {router} to \"{ssid}\"?",
        "want to change my wifi name to {ssid}. got the {router}",
        "The {router} still broadcasts some random name. I want it called {ssid}. How?",
        "Rename Wi-Fi to {ssid}, {router}.",
        "Hi, could you tell me how to change the network name on my {router}? I'd like it to be {ssid}.",
    ],
    lambda r: {"router": r.choice(ROUTERS), "ssid": r.choice(SSIDS)},
    lambda s: [
        f"In the app, choose your {s['router']} and tap Wi-Fi > Network name.",
        f"Enter \"{s['ssid']}\" and save; the Wi-Fi restarts in about a minute.",
        f"Reconnect each device to {s['ssid']} using your existing password.",
    ],
)


def _ports(r):
    purpose, port = r.choice(PURPOSES)
    return {"router": r.choice(ROUTERS), "purpose": purpose, "port": port}


topic(
    "port_forwarding",
    [
        "How do I forward port {port} on my {router} for {purpose}?",
        "need port {port} open for {purpose}. {router}. how?",
        "People can't connect to {purpose} at my place because the {router} blocks port {port}. So annoying.",
        "Port forward {port}, {router}.",
        "Hello, I'm hosting {purpose} at home. Could you explain how to open port {port} on the {router}?",
    ],
    _ports,
    lambda s: [
        f"In the app, select your {s['router']} and go to Advanced > Port forwarding.",
        f"Add a rule for port {s['port']} and pick the device that runs {s['purpose']}.",
        f"Save, restart the {s['router']}, then test the port from outside your network.",
    ],
)

topic(
    "technician_visit",
    [
        "Can I book a technician for {day}? We have {issue}.",
        "need someone to come out about {issue}. {day} any good?",
        "I've had {issue} for a week. Send a technician on {day}, no more excuses.",
        "Technician, {day}, {issue}.",
        "Hi, would it be possible to arrange an engineer visit on {day}? The problem is {issue}.",
    ],
    lambda r: {"day": r.choice(WEEKDAYS), "issue": r.choice(ISSUES)},
    lambda s: [
        f"We can book a technician on {s['day']} in the 8-12 or 12-5 slot.",
        "Reply with your preferred slot and a contact number; an adult must be home.",
        f"Visits for {s['issue']} are free when the fault is on our network.",
    ],
)

topic(
    "late_fee",
    [
        "Why was I charged a late fee on my {month} bill?",
        "there's a late fee on the {month} bill?? i paid like one day late",
        "A late fee on my {month} bill? I've been a customer for years. Remove it.",
        "Late fee, {month} bill.",
        "Hello, I noticed a late payment charge on my {month} statement. Could you look into it, please?",
    ],
    lambda r: {"month": r.choice(MONTHS)},
    lambda s: [
        f"The $10 late fee on your {s['month']} bill was added because payment arrived after the due date.",
        "As a one-time courtesy we can waive it; just reply to confirm.",
        "Turn on AutoPay under Billing to avoid future late fees.",
    ],
)

topic(
    "student_discount",
    [
        "Do you have a student discount on {plan}? I'm at {school}.",
        "student at {school}, any deal on {plan}?",
        "Other providers give students discounts. Does Brightwave? I'm at {school} and on {plan}.",
        "Student discount, {plan}, {school}.",
        "Hi, I'm enrolled at {school} and interested in {plan}. Is there a reduced price for students?",
    ],
    lambda r: {"plan": r.choice(PLANS), "school": r.choice(SCHOOLS)},
    lambda s: [
        f"Students get 20% off {s['plan']}, bringing it to ${STUDENT_PRICE[s['plan']]}/month.",
        f"Upload your {s['school']} student ID at brightwave.com/student.",
        "The discount is applied within 3 business days and renews each academic year.",
    ],
)

topic(
    "contract_end",
    [
        "My {plan} contract ends in {month}. What happens then?",
        "{plan} contract's up in {month}, do i need to do anything?",
        "Will you hike my price when my {plan} contract ends in {month}? Be honest.",
        "{plan} contract end, {month}.",
        "Good morning, could you explain what happens to my {plan} service when the contract finishes in {month}?",
    ],
    lambda r: {"plan": r.choice(PLANS), "month": r.choice(MONTHS)},
    lambda s: [
        f"Your {s['plan']} contract ends in {s['month']}.",
        f"After that you move to month-to-month at ${PLAN_PRICE[s['plan']]}/month with no cancellation fee.",
        f"We will email you 30 days before {s['month']} with renewal offers.",
    ],
)

topic(
    "travel_hold",
    [
        "I'm going to {country} for {duration}. Can I pause my internet?",
        "off to {country} for {duration}, no point paying for wifi at home. options?",
        "Why should I pay full price while I'm in {country} for {duration}? Pause my service.",
        "Pause service, {country}, {duration}.",
        "Hello, I'll be working in {country} for {duration}. Is there a way to suspend my home service meanwhile?",
    ],
    lambda r: {"country": r.choice(COUNTRIES), "duration": r.choice(DURATIONS)},
    lambda s: [
        f"Yes, Travel Hold can pause your service while you are in {s['country']} for {s['duration']}.",
        "Travel Hold costs $5/month and keeps your account, equipment and price.",
        "Turn it on under Account > Travel Hold at least 2 days before you leave.",
    ],
)

topic(
    "gift_card",
    [
        "How do I use my {value} gift card? The code is {code}.",
        "got a brightwave gift card for my birthday, {value}, code {code}. how do i redeem",
        "Your site keeps rejecting my gift card {code}. It's worth {value}!",
        "Redeem {code}, {value}.",
        "Hi, I'd like to apply a {value} Brightwave gift card (code {code}) to my account. How does it work?",
    ],
    lambda r: {"value": r.choice(GIFT_VALUES), "code": gift_code(r)},
    lambda s: [
        f"Go to Billing > Gift cards and enter code {s['code']}.",
        f"The {s['value']} balance is applied to your next bills automatically.",
        "Brightwave gift cards never expire and cannot be exchanged for cash.",
    ],
)

topic(
    "device_not_charging",
    [
        "My {device} won't charge. What can I do?",
        "{device} not charging anymore?? tried different sockets",
        "Brand new {device} and it already refuses to charge. Unacceptable.",
        "{device} not charging.",
        "Hello, my {device} doesn't seem to hold a charge or charge at all. Do you have any suggestions?",
    ],
    lambda r: {"device": r.choice(BATTERY_DEVICES)},
    lambda s: [
        f"Charge your {s['device']} with the original USB-C cable and a 5V/2A adapter.",
        f"After 30 minutes, hold the power button for 15 seconds to restart the {s['device']}.",
        "If the charging light stays off, reply with its serial number for a warranty check.",
    ],
)

topic(
    "app_login",
    [
        "I can't log in to the Brightwave app on my {phone}.",
        "app keeps kicking me out on my {phone}, can't sign in",
        "The Brightwave app on my {phone} says 'login failed' every single time. Fix your app.",
        "App login broken, {phone}.",
        "Hi, since yesterday I'm unable to sign in to the app on my {phone}. Could you help?",
    ],
    lambda r: dict(zip(("phone", "store"), r.choice(PHONES))),
    lambda s: [
        f"Update the Brightwave app to the latest version from the {s['store']}.",
        f"On your {s['phone']}, reinstall the app, then sign in again.",
        "If it still fails, reset your password at brightwave.com/reset and try once more.",
    ],
)


def _two_fa_steps(s):
    m = s["method"]
    if m == "text message":
        second = "Choose text message and enter the 6-digit code we send to your phone."
    elif m == "authenticator app":
        second = "Choose authenticator app, scan the QR code and enter the 6-digit code."
    else:
        second = "Choose email code and enter the 6-digit code we send to your inbox."
    return [
        "In the app, go to Account > Security > Two-factor authentication.",
        second,
        "Save your backup codes somewhere safe in case you lose access.",
    ]


topic(
    "two_factor",
    [
        "How do I turn on two-factor authentication with {a_method}?",
        "wanna set up 2FA using {a_method}, where's the setting",
        "My neighbour's account got hacked. I need two-factor with {a_method} switched on right now.",
        "2FA via {a_method}.",
        "Hello, for extra security I'd like to enable two-step verification using {a_method}. How do I do that?",
    ],
    lambda r: (lambda m: {"method": m, "a_method": ("an " if m[0] in "ae" else "a ") + m})(r.choice(TWO_FA)),
    _two_fa_steps,
)

topic(
    "change_payment_method",
    [
        "How do I switch my payment to a {card} ending {last4}?",
        "new {card}, ends {last4}. how do i update it on my account",
        "My old card expired and your site won't let me add my {card} ending {last4}. What's the trick?",
        "Update card: {card} {last4}.",
        "Hi, I'd like to pay my Brightwave bills with my {card} ending in {last4} from now on. How can I change it?",
    ],
    lambda r: {"card": r.choice(CARDS), "last4": f"{r.randint(0, 9999):04d}"},
    lambda s: [
        "Go to Billing > Payment methods > Add new.",
        f"Enter your {s['card']} ending {s['last4']} and set it as default.",
        "It will be used from your next bill, and you can then remove the old card.",
    ],
)

topic(
    "thermostat_schedule",
    [
        "How do I set my Thermo S to {temp}°F at {at}?",
        "want the thermo s at {temp} degrees every day at {at}, how",
        "My Thermo S ignores me. I just want {temp}°F at {at}. Is that too much to ask?",
        "Thermo S schedule: {temp}°F, {at}.",
        "Hello, could you show me how to schedule the Thermo S so it reaches {temp}°F at {at} each day?",
    ],
    lambda r: {"temp": r.choice(TEMPS), "at": r.choice(SCHEDULE_TIMES)},
    lambda s: [
        "In the Brightwave app, select your Thermo S and tap Schedule > Add.",
        f"Set {s['temp']}°F, choose {s['at']} and pick the days it should repeat.",
        "The Thermo S learns your routine after a week and adjusts itself.",
    ],
)

topic(
    "wifi_password_forgot",
    [
        "What's my Wi-Fi password? I have the {router}.",
        "forgot the wifi password, guests are here. {router}",
        "Nobody in this house remembers the Wi-Fi password for the {router} and I'm losing my mind.",
        "Wi-Fi password, {router}.",
        "Hi, I seem to have lost the wireless password for my {router}. Where can I find it?",
    ],
    lambda r: {"router": r.choice(ROUTERS)},
    lambda s: [
        f"The default Wi-Fi password is printed on the sticker under your {s['router']}.",
        f"If you changed it, select the {s['router']} in the app and tap Wi-Fi > Show password.",
        "You can set a new one there too; every device will need to reconnect.",
    ],
)

# Light tone wrappers so the same template reads a little differently.
PREFIXES = ["Hi. ", "Hey there. ", "Hello! ", "Quick question. ", "Urgent! ", "Morning. "]
SUFFIXES = [" Thanks.", " Thanks in advance!", " Please help.", " Cheers!", " Really need this sorted.",
            " Appreciate it."]


def build_answer(steps: list[str]) -> str:
    body = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
    return f"{OPENING}\n{body}\n{CLOSING}"


def render_question(rng: random.Random, template: str, slots: dict) -> str:
    return add_tone(rng, template.format(**slots), PREFIXES, SUFFIXES)


def main() -> None:
    train, test = generate_splits(
        random.Random(SEED), TOPICS, N_TRAIN, N_TEST, system=SYSTEM, templates_key="questions",
        sample=lambda rng, t: t["slots"](rng), render=render_question,
        answer=lambda t, s: build_answer(t["steps"](s)))
    print(f"topics: {len(TOPICS)}")
    write_splits(output_dir(OUT_DIR), train, test, N_TRAIN, N_TEST)


if __name__ == "__main__":
    main()
