#!/usr/bin/env python3
"""Generate the synthetic Northfield Clinic patient-information dataset.

Northfield Clinic is a fictional clinic invented for honed's examples. The
dataset teaches a small chat model a distinctive, consistent house style:

    Thank you for your question. Here is general information from the Northfield Clinic nurse line:
    - <point that depends on the question's topic and details>
    - <point>
    - <when to seek care: a concrete red flag and whom to call>
    This is general information, not medical advice; please contact your clinician about your own situation.

THIS IS NOT MEDICAL ADVICE. The data is synthetic and exists only to
demonstrate fine-tuning; it must never be used to answer real patients.

Run from anywhere (stdlib only, fully deterministic):

    python scripts/make_medical_data.py [OUT_DIR]

OUT_DIR (default: this repository's examples/data/medical) is where the splits go;
the tests regenerate into a temporary folder and compare byte for byte.

Writes examples/data/medical/train.jsonl (320 rows) and
examples/data/medical/test.jsonl (64 rows). Every topic reserves one of its
question templates for the test split, so test questions are paraphrases
never seen in training while every topic appears in both splits. Which
template is held out rotates from topic to topic (polite, casual, worried,
terse, formal), so the test split covers every tone.
"""

from __future__ import annotations

import random
from pathlib import Path

from synthetic_data import add_tone, generate_splits, output_dir, write_splits

SEED = 29
N_TRAIN = 320
N_TEST = 64
OUT_DIR = Path(__file__).resolve().parents[1] / "examples" / "data" / "medical"

SYSTEM = "You are the Northfield Clinic nurse line's patient-information assistant."
OPENING = "Thank you for your question. Here is general information from the Northfield Clinic nurse line:"
CLOSING = ("This is general information, not medical advice; "
           "please contact your clinician about your own situation.")

# --------------------------------------------------------------------------
# Slot pools
# --------------------------------------------------------------------------

DAYS = ["one day", "two days", "three days", "four days", "five days"]
SHORT_DAYS = ["one day", "two days", "three days"]
WEEKS = ["two weeks", "three weeks", "four weeks", "six weeks"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
CLOCK = ["8:00 am", "8:30 am", "9:15 am", "10:00 am", "11:30 am", "2:00 pm", "3:45 pm", "4:30 pm"]
MORNING_CLOCK = ["7:30 am", "8:00 am", "8:15 am", "8:45 am", "9:00 am", "9:30 am"]
FEVER_TEMPS = ["38.0", "38.2", "38.4", "38.6", "38.8", "39.0", "39.2"]
HEAT_TEMPS = ["30", "32", "33", "35", "36", "38"]
PAIN_MEDS = ["ibuprofen", "paracetamol"]
PAINS = ["a headache", "back pain", "a toothache", "period pain", "a sore knee", "neck pain"]
ALLERGY_SYMPTOMS = ["sneezing", "itchy eyes", "a runny nose", "a blocked nose", "watery eyes"]
SEASONS = ["spring", "summer", "autumn"]
SUN_PLACES = ["the beach", "a long bike ride", "gardening", "a football match", "a day at the lake",
              "a hike"]
ANKLE_SPORTS = ["football", "basketball", "tennis", "netball", "volleyball", "squash"]
SIDES = ["left", "right"]
HEAT_ACTIVITIES = ["gardening", "running", "cycling", "hiking", "working outdoors", "playing tennis"]
BP_READINGS = ["128/82", "134/86", "138/88", "142/90", "126/80", "146/92"]
BP_TIMES = ["morning", "evening"]
FLU_MONTHS = ["September", "October", "November", "December"]
COUNTRIES = ["Kenya", "Peru", "Thailand", "India", "Brazil", "Vietnam", "Ghana", "Indonesia"]
TRIP_WEEKS = ["three weeks", "four weeks", "six weeks", "eight weeks", "ten weeks"]
TICK_PLACES = ["a forest walk", "a camping trip", "gardening", "a hike", "walking the dog"]
BEDTIMES = ["10 pm", "10:30 pm", "11 pm", "11:30 pm", "midnight"]
HEARTBURN_TRIGGERS = ["spicy food", "coffee", "late dinners", "fried food", "tomato sauce", "wine"]
HEARTBURN_FREQ = ["most days", "twice a week", "several times a week", "every evening"]
CUT_PARTS = ["finger", "thumb", "hand", "knee", "forearm", "shin"]
CUT_OBJECTS = ["a kitchen knife", "broken glass", "a garden tool", "a tin can", "a rusty nail"]
COUGH_TYPES = ["dry", "chesty", "tickly"]
COUGH_SPANS = ["five days", "a week", "ten days", "two weeks"]
# (as the patient says it, as the answer says it)
UTI_SYMPTOMS = [("burning when I pee", "burning when you pee"),
                ("needing to pee very often", "needing to pee very often"),
                ("cloudy urine", "cloudy urine"),
                ("pain low in my tummy when I pee", "lower tummy pain when you pee")]
REFILL_MEDS = ["blood pressure tablets", "asthma inhaler", "thyroid tablets", "cholesterol tablets",
               "diabetes tablets", "contraceptive pill"]
DAYS_LEFT = ["two", "three", "four", "five", "six"]
VISIT_REASONS = ["a check-up", "a skin rash", "a sore shoulder", "a medication review",
                 "knee pain", "a mole check"]
PARTS_OF_DAY = ["morning", "afternoon"]
TESTS = ["blood test", "urine test", "cholesterol test", "thyroid test", "X-ray", "ECG"]
RESULT_WAITS = ["three days", "five days", "a week", "ten days"]
HEADACHE_TRIGGERS = ["long screen days", "stress at work", "poor sleep", "skipping meals",
                     "long drives"]
COLD_DAYS = ["three", "four", "five", "six", "seven", "eight"]
STOMACH_SPANS = ["since last night", "for one day", "for two days", "since this morning"]
STING_PARTS = ["arm", "hand", "ankle", "neck", "foot", "cheek"]
NOSEBLEED_WHEN = ["during exercise", "at night", "after blowing my nose", "in dry weather",
                  "at work"]
BACK_CAUSES = ["lifting boxes", "gardening", "moving furniture", "a long flight", "a gym session"]
THROAT_SPANS = ["two days", "three days", "four days", "five days"]
TOWNS = ["Millbrook", "Ashford", "Riverside", "Eastgate", "Hollowell", "Kingsley", "Westmere"]
FAMILY = [("myself", "yourself"), ("my partner and me", "you and your partner"),
          ("our family of four", "your family of four"),
          ("my two children and me", "you and your two children")]
EAR_SPANS = ["one day", "two days", "three days"]
SMOKE_YEARS = ["five", "ten", "fifteen", "twenty", "thirty"]
SMOKE_PER_DAY = ["five", "ten", "fifteen", "twenty"]


def cap(s: str) -> str:
    return s[0].upper() + s[1:]


# --------------------------------------------------------------------------
# Topics: question templates (one per topic is reserved for test), a slot
# sampler and an answer builder returning the three bullet points. Template
# order is always polite, casual, worried, terse, formal.
# --------------------------------------------------------------------------

TOPICS: list[dict] = []


def topic(name, questions, slots, points):
    assert len(questions) >= 5, name
    TOPICS.append({"name": name, "questions": questions, "slots": slots, "points": points})


topic(
    "fever_adult",
    [
        "Hello, I'm {age} and I've had a temperature of {temp}°C for {days}. What should I do?",
        "been running {temp} degrees for {days}, im {age}. anything i should do?",
        "I'm {age} and my fever is still {temp}°C after {days}. I'm getting worried, is this serious?",
        "Fever {temp}°C, {days}, age {age}.",
        "Good afternoon, could you advise me? I am {age} years old and have had a fever of {temp}°C for {days}.",
    ],
    lambda r: {"age": r.randint(19, 74), "temp": r.choice(FEVER_TEMPS), "days": r.choice(SHORT_DAYS)},
    lambda s: [
        f"At {s['age']}, {s['temp']}°C for {s['days']} counts as a fever.",
        "Rest, drink fluids and use a fever reducer as labelled.",
        "Call emergency services for confusion, a stiff neck or breathlessness.",
    ],
)


def _pain_points(s):
    if s["med"] == "ibuprofen":
        caution = "Ask a pharmacist first if you have ulcers or kidney disease."
    else:
        caution = "Check cold remedies for hidden paracetamol to avoid doubling up."
    return [
        f"For {s['pain']}, follow the {s['med']} label's dosing interval and maximum.",
        caution,
        f"If you took too much {s['med']}, call emergency services.",
    ]


topic(
    "pain_reliever_interval",
    [
        "How long should I wait between doses of {med} for {pain}?",
        "can i take {med} again yet? still got {pain}",
        "I keep taking {med} for {pain} and I'm scared I'm overdoing it. How often is safe?",
        "{Med} for {pain}: how often?",
        "Good morning, could you tell me how often it is safe to take {med} for {pain}?",
    ],
    lambda r: {"med": r.choice(PAIN_MEDS), "pain": r.choice(PAINS)},
    _pain_points,
)

topic(
    "seasonal_allergies",
    [
        "Every {season} I get {symptom}. Could it be hay fever?",
        "{symptom} all {season} again, allergies? what helps",
        "I get {symptom} every {season} and I'm worried it's something worse than allergies. What is it?",
        "{Symptom} every {season}.",
        "Hello, I suffer from {symptom} each {season}. Could you tell me what might help?",
    ],
    lambda r: {"symptom": r.choice(ALLERGY_SYMPTOMS), "season": r.choice(SEASONS)},
    lambda s: [
        f"{cap(s['symptom'])} every {s['season']} can be a sign of hay fever.",
        "Keep windows closed on high-pollen days; ask a pharmacist about antihistamines.",
        "Call emergency services for wheezing or lip or throat swelling.",
    ],
)

topic(
    "mild_sunburn",
    [
        "I got sunburnt after {place} yesterday. How should I treat it?",
        "burnt my shoulders after {place}, stings like mad. what do i do",
        "My skin is bright red and sore after {place}. I'm worried, is this bad?",
        "Sunburn after {place}.",
        "Hello, could you advise how to look after mild sunburn from {place}?",
    ],
    lambda r: {"place": r.choice(SUN_PLACES)},
    lambda s: [
        f"Cool your skin after {s['place']} with a cool shower.",
        "Drink extra water and apply aloe or a gentle moisturiser.",
        "Call the nurse line for blistering, fever or feeling faint.",
    ],
)

topic(
    "sprained_ankle",
    [
        "I twisted my {side} ankle playing {activity}. How should I look after it?",
        "rolled my {side} ankle at {activity}, it's swollen. what now",
        "My {side} ankle swelled up after {activity} and I'm worried it's broken. What should I do?",
        "Sprained {side} ankle, {activity}.",
        "Good evening, I think I sprained my {side} ankle during {activity}. Could you advise me?",
    ],
    lambda r: {"side": r.choice(SIDES), "activity": r.choice(ANKLE_SPORTS)},
    lambda s: [
        f"For your {s['side']} ankle, use RICE: rest, ice, compression, elevation.",
        "Apply wrapped ice for 15-20 minutes at a time.",
        "Seek urgent care if you cannot put weight on it.",
    ],
)

topic(
    "hydration_heat",
    [
        "It's going to be {temp}°C tomorrow and I'll be {activity}. How do I stay hydrated?",
        "{temp} degrees out and im {activity} all day, how much water?",
        "It's {temp}°C and I felt dizzy {activity} yesterday. I'm nervous about today, any tips?",
        "Hydration, {temp}°C, {activity}.",
        "Hello, could you advise how to stay safe while {activity} in {temp}°C heat?",
    ],
    lambda r: {"temp": r.choice(HEAT_TEMPS), "activity": r.choice(HEAT_ACTIVITIES)},
    lambda s: [
        f"At {s['temp']}°C, drink water regularly while {s['activity']}.",
        "Rest in the shade and avoid the midday heat.",
        "Call emergency services for confusion, fainting or hot, dry skin.",
    ],
)

topic(
    "blood_pressure_home",
    [
        "How should I measure my blood pressure at home? This {time} it was {reading}.",
        "got a home bp cuff, read {reading} this {time}. am i doing it right?",
        "My home blood pressure read {reading} this {time} and I'm anxious. Am I measuring it properly?",
        "Home BP {reading}, {time}.",
        "Good morning, my home monitor showed {reading} this {time}. Could you explain how to measure correctly?",
    ],
    lambda r: {"reading": r.choice(BP_READINGS), "time": r.choice(BP_TIMES)},
    lambda s: [
        "Sit quietly for five minutes, arm supported at heart level.",
        f"Log two readings each {s['time']}, starting with {s['reading']}.",
        "Call emergency services for 180/120 or higher with chest pain.",
    ],
)

topic(
    "fasting_blood_test",
    [
        "I have a fasting blood test on {day} at {time}. How should I prepare?",
        "fasting bloods {day} {time}, can i still have coffee?",
        "My fasting blood test is on {day} at {time} and I'm nervous I'll get it wrong. What do I do?",
        "Fasting blood test, {day} {time}.",
        "Hello, could you explain how to prepare for my fasting blood test on {day} at {time}?",
    ],
    lambda r: {"day": r.choice(WEEKDAYS), "time": r.choice(MORNING_CLOCK)},
    lambda s: [
        f"Before your {s['day']} {s['time']} test, fast as your instructions say.",
        "Plain water is fine; skip coffee, juice and gum.",
        "Call the nurse line first if you take diabetes medication.",
    ],
)

topic(
    "flu_vaccine_timing",
    [
        "Is {month} a good time to get my flu jab? I'm {age}.",
        "flu shot in {month}, too early or too late? im {age}",
        "I'm {age} and I missed the flu vaccine until {month}. Is it too late to be protected?",
        "Flu vaccine, {month}, age {age}.",
        "Good afternoon, when should I have this year's flu vaccine? I am {age} and it is {month}.",
    ],
    lambda r: {"month": r.choice(FLU_MONTHS), "age": r.randint(25, 80)},
    lambda s: [
        f"At {s['age']}, a {s['month']} flu vaccine still protects you this winter.",
        "Book a flu clinic slot in the patient portal.",
        "Call emergency services for face swelling or breathing trouble afterwards.",
    ],
)

topic(
    "travel_vaccines",
    [
        "I'm travelling to {country} in {weeks}. Do I need any vaccines?",
        "off to {country} in {weeks}!! do i need jabs?",
        "I only just realised I'm going to {country} in {weeks}. Am I too late for travel vaccines?",
        "Travel vaccines, {country}, {weeks}.",
        "Hello, I would like advice on vaccinations for a trip to {country} in {weeks}.",
    ],
    lambda r: {"country": r.choice(COUNTRIES), "weeks": r.choice(TRIP_WEEKS)},
    lambda s: [
        f"For {s['country']} in {s['weeks']}, book a travel health appointment now.",
        "Some vaccines need several doses; bring your vaccination record.",
        "Call the nurse line about any fever after you return.",
    ],
)

topic(
    "tick_bite",
    [
        "I found a tick on me after {place} {days} ago. What should I do?",
        "pulled a tick off after {place}, {days} ago. should i worry?",
        "I had a tick on me after {place} {days} ago and I'm scared about Lyme disease. What now?",
        "Tick bite, {place}, {days} ago.",
        "Good morning, could you advise me about a tick bite I noticed after {place} {days} ago?",
    ],
    lambda r: {"place": r.choice(TICK_PLACES), "days": r.choice(DAYS)},
    lambda s: [
        f"Clean the bite from {s['place']} with soap and water.",
        "Watch for a spreading red rash over the next month.",
        "Call the nurse line for a rash, fever or joint pain.",
    ],
)

topic(
    "insomnia_sleep_hygiene",
    [
        "I've slept badly for {weeks}. I go to bed at {bedtime}. Any tips?",
        "cant sleep for {weeks} now, bed at {bedtime}, help",
        "It's been {weeks} of terrible sleep even though I go to bed at {bedtime}. I'm exhausted and worried.",
        "Poor sleep {weeks}, bedtime {bedtime}.",
        "Hello, could you suggest ways to sleep better? It has been {weeks} and I go to bed at {bedtime}.",
    ],
    lambda r: {"weeks": r.choice(WEEKS), "bedtime": r.choice(BEDTIMES)},
    lambda s: [
        f"After {s['weeks']} of poor sleep, keep a fixed wake-up time.",
        f"Avoid caffeine after midday and screens before {s['bedtime']}.",
        "Book a clinic visit if you feel drowsy while driving.",
    ],
)

topic(
    "heartburn",
    [
        "I get heartburn after {trigger} {freq}. What can I do?",
        "burning in my chest after {trigger}, happens {freq}. normal?",
        "Heartburn after {trigger} {freq} now and I'm worried it's my heart. What should I do?",
        "Heartburn, {trigger}, {freq}.",
        "Good evening, could you advise me? I have heartburn {freq}, mostly after {trigger}.",
    ],
    lambda r: {"trigger": r.choice(HEARTBURN_TRIGGERS), "freq": r.choice(HEARTBURN_FREQ)},
    lambda s: [
        f"Cut back on {s['trigger']} and don't lie down after eating.",
        f"As it happens {s['freq']}, please book a visit.",
        "Call emergency services for chest pain spreading to the arm.",
    ],
)

topic(
    "minor_cut",
    [
        "I cut my {part} on {object}. How should I clean it?",
        "sliced my {part} on {object}, bleeding a bit. what do i do",
        "I cut my {part} on {object} and there's a lot of blood. I'm panicking, what do I do?",
        "Cut {part}, {object}.",
        "Hello, could you explain how to care for a small cut on my {part} from {object}?",
    ],
    lambda r: {"part": r.choice(CUT_PARTS), "object": r.choice(CUT_OBJECTS)},
    lambda s: [
        f"Press a clean cloth on your {s['part']} for ten minutes.",
        f"After a cut from {s['object']}, check your tetanus status.",
        "Seek urgent care if it keeps bleeding or gapes open.",
    ],
)

topic(
    "cough_when_to_see_doctor",
    [
        "I've had a {type} cough for {span}. When should I see a doctor?",
        "{type} cough for {span} now, do i need the doctor?",
        "My {type} cough has lasted {span} and I'm starting to worry. Should I be seen?",
        "{Type} cough, {span}.",
        "Good morning, I have had a {type} cough for {span}. Could you tell me when it needs a doctor?",
    ],
    lambda r: {"type": r.choice(COUGH_TYPES), "span": r.choice(COUGH_SPANS)},
    lambda s: [
        f"A {s['type']} cough for {s['span']} often settles within three weeks.",
        "Rest, drink warm fluids and try honey and lemon.",
        "Call emergency services for breathlessness, chest pain or coughing blood.",
    ],
)

topic(
    "uti_symptoms",
    [
        "I've had {symptom} for {days}. Could it be a UTI?",
        "{symptom} for {days}, uti? what do i do",
        "{Symptom} for {days} now and it's getting worse. I'm worried, what should I do?",
        "{Symptom}, {days}.",
        "Hello, could you advise me? My main symptom for {days} has been {symptom}.",
    ],
    lambda r: dict(zip(("symptom", "symptom_you"), r.choice(UTI_SYMPTOMS)), days=r.choice(SHORT_DAYS)),
    lambda s: [
        f"{cap(s['symptom_you'])} for {s['days']} can signal a urinary infection.",
        "Book a same-day appointment so a clinician can assess it.",
        "Call the nurse line urgently for fever or back pain.",
    ],
)

topic(
    "prescription_refill",
    [
        "How do I get a refill of my {med}? I have {left} days left.",
        "running low on my {med}, {left} days left. how do i reorder",
        "I only have {left} days of {med} left and I'm worried I'll run out. What do I do?",
        "Refill {med}, {left} days left.",
        "Good afternoon, I'd like to request a repeat prescription for my {med}. I have {left} days left.",
    ],
    lambda r: {"med": r.choice(REFILL_MEDS), "left": r.choice(DAYS_LEFT)},
    lambda s: [
        f"Request your {s['med']} in the patient portal under Prescriptions.",
        f"With {s['left']} days left, request today; allow two working days.",
        "If you may run out first, call the nurse line.",
    ],
)

topic(
    "book_appointment",
    [
        "Can I book an appointment on {day} {part_of_day} for {reason}?",
        "need to see someone about {reason}, {day} {part_of_day} any good?",
        "I've been putting off seeing someone about {reason}. Is there anything on {day} {part_of_day}?",
        "Appointment {day} {part_of_day}, {reason}.",
        "Hello, I would like to book an appointment for {reason} on {day}, ideally in the {part_of_day}.",
    ],
    lambda r: {"day": r.choice(WEEKDAYS), "part_of_day": r.choice(PARTS_OF_DAY),
               "reason": r.choice(VISIT_REASONS)},
    lambda s: [
        f"Book {s['day']} {s['part_of_day']} for {s['reason']} in the patient portal.",
        "You can also call reception; arrive ten minutes early.",
        "For chest pain or trouble breathing, call emergency services instead.",
    ],
)

topic(
    "cancel_appointment",
    [
        "I need to cancel my appointment on {day} at {time}. How do I do that?",
        "cant make my {day} {time} appt, how do i cancel",
        "I can't make my {day} {time} appointment and I'm worried about a fee. How do I cancel?",
        "Cancel appointment {day} {time}.",
        "Good morning, I am unable to attend my appointment on {day} at {time}. How can I cancel it?",
    ],
    lambda r: {"day": r.choice(WEEKDAYS), "time": r.choice(CLOCK)},
    lambda s: [
        f"Cancel your {s['day']} {s['time']} appointment in the patient portal.",
        "Please cancel at least 24 hours ahead.",
        "If you feel much worse meanwhile, call the nurse line today.",
    ],
)

topic(
    "test_results_portal",
    [
        "I had my {test} {wait} ago. Where can I see the results?",
        "had my {test} {wait} ago, where are my results??",
        "It's been {wait} since my {test} and I've heard nothing. I'm anxious, does that mean bad news?",
        "{Test} results, {wait} ago.",
        "Hello, could you tell me how to view the results of the {test} I had {wait} ago?",
    ],
    lambda r: {"test": r.choice(TESTS), "wait": r.choice(RESULT_WAITS)},
    lambda s: [
        f"Your {s['test']} results appear in the patient portal under Results.",
        "Most take five working days; we call if needed.",
        "If you feel much worse while waiting, call the nurse line.",
    ],
)

topic(
    "tension_headache",
    [
        "I keep getting headaches after {trigger}. What can I do?",
        "headaches every time after {trigger}, any tips?",
        "These headaches after {trigger} won't stop and I'm scared it's something serious. Help?",
        "Headaches after {trigger}.",
        "Good afternoon, could you advise me about recurring headaches that follow {trigger}?",
    ],
    lambda r: {"trigger": r.choice(HEADACHE_TRIGGERS)},
    lambda s: [
        f"Headaches after {s['trigger']} are often tension headaches.",
        "Take breaks, drink water and use pain relievers as labelled.",
        "Call emergency services for a sudden severe headache or weakness.",
    ],
)

topic(
    "common_cold",
    [
        "I'm on day {day} of a cold. When will it get better?",
        "day {day} of this cold, still rubbish. anything help?",
        "It's day {day} of my cold and I feel awful. I'm worried it's turning into something else.",
        "Cold, day {day}.",
        "Hello, I am on day {day} of a cold. Could you advise me on what helps?",
    ],
    lambda r: {"day": r.choice(COLD_DAYS)},
    lambda s: [
        f"Colds usually last 7-10 days, so day {s['day']} is still typical.",
        "Rest, drink fluids and try saline spray; antibiotics don't help.",
        "Call emergency services if you become short of breath.",
    ],
)

topic(
    "stomach_bug",
    [
        "I've had vomiting and diarrhoea {span}. What should I do?",
        "stomach bug {span}, cant keep much down. tips?",
        "I've been sick with diarrhoea {span} and I'm scared I'm getting dehydrated. What do I do?",
        "Vomiting and diarrhoea {span}.",
        "Good evening, could you advise me? I have had vomiting and diarrhoea {span}.",
    ],
    lambda r: {"span": r.choice(STOMACH_SPANS)},
    lambda s: [
        f"With symptoms {s['span']}, sip water or rehydration solution often.",
        "Eat plain food when ready and wash hands well.",
        "Call the nurse line for bloody stool or very little urine.",
    ],
)

topic(
    "bee_sting",
    [
        "I was stung by a bee on my {part}. How do I treat it?",
        "bee got me on the {part}, it's swelling a bit. what do i do",
        "A bee stung my {part} and it's swelling. I'm worried I'm allergic, what should I do?",
        "Bee sting, {part}.",
        "Hello, could you tell me how to care for a bee sting on my {part}?",
    ],
    lambda r: {"part": r.choice(STING_PARTS)},
    lambda s: [
        f"Scrape the sting out of your {s['part']} sideways with a card.",
        "Wash it, apply a cold pack and keep it raised.",
        "Call emergency services for throat swelling, wheezing or dizziness.",
    ],
)

topic(
    "nosebleed",
    [
        "I get nosebleeds {when}. How do I stop one?",
        "nose keeps bleeding {when}, how do i stop it",
        "I had a nosebleed {when} that scared me. What should I do next time?",
        "Nosebleeds {when}.",
        "Good morning, could you explain how to handle nosebleeds that happen {when}?",
    ],
    lambda r: {"when": r.choice(NOSEBLEED_WHEN)},
    lambda s: [
        f"For nosebleeds {s['when']}, sit up and lean forward.",
        "Pinch the soft part of your nose for 10-15 minutes.",
        "Seek urgent care if bleeding lasts over 20 minutes.",
    ],
)

topic(
    "lower_back_pain",
    [
        "My lower back hurts after {cause} {days} ago. What should I do?",
        "back's killing me after {cause}, {days} ago. tips?",
        "My lower back has hurt since {cause} {days} ago and it's not easing. I'm worried, what now?",
        "Lower back pain, {cause}, {days} ago.",
        "Hello, could you advise me on lower back pain that started after {cause} {days} ago?",
    ],
    lambda r: {"cause": r.choice(BACK_CAUSES), "days": r.choice(DAYS)},
    lambda s: [
        f"Back pain after {s['cause']} usually eases within a few weeks.",
        "Stay gently active and use heat or labelled pain relievers.",
        "Call emergency services for groin numbness or bladder problems.",
    ],
)

topic(
    "sore_throat",
    [
        "I've had a sore throat for {span}. What can I do?",
        "throat's been sore for {span}, anything that helps?",
        "My sore throat has lasted {span} and it's really painful. I'm worried, should I be seen?",
        "Sore throat, {span}.",
        "Good afternoon, could you advise me about a sore throat I have had for {span}?",
    ],
    lambda r: {"span": r.choice(THROAT_SPANS)},
    lambda s: [
        f"A sore throat for {s['span']} is usually viral and settles within a week.",
        "Try warm drinks, lozenges and pain relievers as labelled.",
        "Call emergency services for difficulty breathing or swallowing.",
    ],
)

topic(
    "new_patient_registration",
    [
        "I've just moved to {town}. How do I register {who} at Northfield Clinic?",
        "new to {town}, how do i sign up {who} with you?",
        "We've just moved to {town} and I'm worried about having no clinic. How do I register {who}?",
        "Register {who}, moved to {town}.",
        "Hello, having recently moved to {town}, I would like to register {who} with the clinic.",
    ],
    lambda r: dict(zip(("who", "who_you"), r.choice(FAMILY)), town=r.choice(TOWNS)),
    lambda s: [
        f"Welcome to {s['town']}; register {s['who_you']} online or at reception.",
        "Bring photo ID and proof of address.",
        "Meanwhile, call emergency services for chest pain or breathing trouble.",
    ],
)

topic(
    "earache",
    [
        "I've had earache in my {side} ear for {span}. What should I do?",
        "{side} ear hurts, been {span}. tips?",
        "My {side} ear has hurt for {span} and it's getting worse. I'm worried, what should I do?",
        "Earache, {side} ear, {span}.",
        "Good evening, could you advise me about earache in my {side} ear that has lasted {span}?",
    ],
    lambda r: {"side": r.choice(SIDES), "span": r.choice(EAR_SPANS)},
    lambda s: [
        f"Earache in your {s['side']} ear often improves within three days.",
        "Use a warm compress; never put anything inside the ear.",
        "Call the nurse line for ear discharge, hearing loss or high fever.",
    ],
)

topic(
    "stop_smoking",
    [
        "I've smoked {per_day} a day for {years} years. Can you help me quit?",
        "want to quit smoking, {per_day} a day for {years} years. where do i start",
        "I've smoked {per_day} a day for {years} years and I'm scared it's too late. Is quitting worth it?",
        "Quit smoking, {per_day} a day, {years} years.",
        "Good morning, I would like support to stop smoking. I have smoked {per_day} a day for {years} years.",
    ],
    lambda r: {"per_day": r.choice(SMOKE_PER_DAY), "years": r.choice(SMOKE_YEARS)},
    lambda s: [
        f"Quitting after {s['years']} years of smoking helps your health at any age.",
        "Book a stop-smoking appointment to plan nicotine replacement and support.",
        "Call emergency services for chest pain or sudden breathlessness.",
    ],
)

# Light tone wrappers so the same template reads a little differently.
PREFIXES = ["Hi. ", "Hello! ", "Quick question. ", "Good morning. ", "Sorry to bother you. ",
            "Hi there. "]
SUFFIXES = [" Thanks.", " Thank you!", " Many thanks.", " Appreciate it.", " Thanks for your help.",
            " Thanks in advance."]


def build_answer(points: list[str]) -> str:
    body = "\n".join(f"- {p}" for p in points)
    return f"{OPENING}\n{body}\n{CLOSING}"


def render_question(rng: random.Random, template: str, slots: dict) -> str:
    # "{Name}" in a template is the slot "name" with its first letter capitalised.
    full = dict(slots)
    full.update({cap(k): cap(str(v)) for k, v in slots.items()})
    return add_tone(rng, template.format(**full), PREFIXES, SUFFIXES)


def main() -> None:
    train, test = generate_splits(
        random.Random(SEED), TOPICS, N_TRAIN, N_TEST, system=SYSTEM, templates_key="questions",
        sample=lambda rng, t: t["slots"](rng), render=render_question,
        answer=lambda t, s: build_answer(t["points"](s)))
    print(f"topics: {len(TOPICS)}")
    write_splits(output_dir(OUT_DIR), train, test, N_TRAIN, N_TEST)


if __name__ == "__main__":
    main()
