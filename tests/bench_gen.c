/*
 * bench_gen.c: the benchmark programs' shared parts.
 *
 * The generator writes post-call bodies for a home-services business whose
 * Phonely agents answer scheduling, billing, sales, support and emergency
 * calls. Each call draws, from its own random stream (seed, index): a
 * scenario, a caller (a repeat caller on about 30% of calls), 10-40 turns
 * made of scenario and general sentence templates whose slots take names,
 * dates, times, amounts, order numbers, products, services, brands, cities
 * and streets, then the summary, analysis and follow-up fields that match
 * them. Words the search benchmarks query are put in on purpose: each
 * common term by one of a few sentences in 10-25% of calls, each rare term
 * in 0.01-0.1%; no other template contains them.
 *
 * Figures go to stdout and, when PHONELY_BENCH_RESULTS names a file, are
 * appended to it, one "name value unit" line each.
 *
 * Ownership: bench_gen_call writes into the caller's buffer; nothing else
 * here allocates what it returns. The watchdog's pid list is the only
 * mutable state, read by its signal handler.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_gen.h"
#include "textutil.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- random numbers ---- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void bench_rng_seed(struct bench_rng *r, uint64_t seed, uint64_t stream)
{
    r->state = mix64(seed + UINT64_C(0x9e3779b97f4a7c15)) ^ mix64(~stream);
}

uint64_t bench_rng_next(struct bench_rng *r)
{
    r->state += UINT64_C(0x9e3779b97f4a7c15);
    return mix64(r->state);
}

uint32_t bench_rng_below(struct bench_rng *r, uint32_t n)
{
    return (uint32_t)(((bench_rng_next(r) >> 32) * n) >> 32);
}

/* True with probability ppm / 1,000,000. */
static bool chance(struct bench_rng *r, unsigned ppm)
{
    return bench_rng_below(r, 1000000) < ppm;
}

/* ---- vocabulary ---- */

static const char *const first_names[] = {
    "Maria",    "James", "Wei",      "Sofia", "Ahmed",  "Emma",   "Noah",  "Aiko",   "Olivia",
    "Liam",     "Priya", "Mateo",    "Chloé", "Daniel", "Fatima", "Lucas", "Hannah", "Diego",
    "Grace",    "Omar",  "Isabella", "Ethan", "Mei",    "Samuel", "Zoë",   "Kwame",  "Ana",
    "Benjamin", "Leila", "Hiroshi",  "Nadia", "Carlos", "Emily",  "Arjun", "Sara",   "Michael",
    "Ingrid",   "José",  "Rachel",   "Tomás", "Amara",  "David",  "Yuki",  "Elena",  "Patrick",
    "Layla",    "Andre", "Julia",    "Ravi",  "Claire"};

static const char *const last_names[] = {
    "Hernandez", "Okafor",  "Chen",     "Rossi",   "Khan",     "Dubois",   "Schmidt",  "Tanaka",
    "Johnson",   "Nguyen",  "Patel",    "Garcia",  "Müller",   "O'Brien",  "Kowalski", "Silva",
    "Kim",       "Martin",  "Anderson", "Ivanova", "Thompson", "Mensah",   "Lopez",    "Cohen",
    "Williams",  "Haddad",  "Jensen",   "Moreau",  "Rivera",   "Singh",    "Brown",    "Nakamura",
    "Fischer",   "Costa",   "Murphy",   "Ali",     "Park",     "Santos",   "Walker",   "Bianchi",
    "Larsen",    "Mahmoud", "Campbell", "Novak",   "Torres",   "Yamamoto", "Ferreira", "Clarke",
    "Weber",     "Alvarez"};

static const char *const staff_names[] = {
    "Marcus", "Tina",   "Greg", "Luis",   "Dana",  "Kevin", "Rosa",   "Brian",  "Monica", "Sean",
    "Alicia", "Trevor", "Nina", "Victor", "Paula", "Derek", "Sandra", "Hector", "Wendy",  "Frank"};

static const char *const personas[] = {"Ava", "Max", "Riley", "Jordan", "Sam", "Quinn"};

static const char *const products[] = {"water heater",
                                       "tankless water heater",
                                       "heat pump",
                                       "furnace",
                                       "smart thermostat",
                                       "ceiling fan",
                                       "garbage disposal",
                                       "sump pump",
                                       "water softener",
                                       "air purifier",
                                       "dehumidifier",
                                       "humidifier",
                                       "ductless mini split",
                                       "boiler",
                                       "gas range",
                                       "dishwasher",
                                       "washing machine",
                                       "dryer vent",
                                       "refrigerator",
                                       "ice maker",
                                       "range hood",
                                       "bathroom exhaust fan",
                                       "shower valve",
                                       "kitchen faucet",
                                       "toilet",
                                       "backflow preventer",
                                       "circuit breaker",
                                       "surge protector",
                                       "EV charger",
                                       "standby generator",
                                       "smoke detector",
                                       "carbon monoxide detector",
                                       "attic fan",
                                       "radiant floor heating",
                                       "well pump",
                                       "pressure regulator",
                                       "expansion tank",
                                       "condensate pump",
                                       "UV air cleaner",
                                       "zoning damper"};

static const char *const services[] = {"drain cleaning",
                                       "furnace tune-up",
                                       "AC maintenance",
                                       "duct cleaning",
                                       "leak detection",
                                       "sewer line inspection",
                                       "water heater flush",
                                       "electrical panel upgrade",
                                       "outlet installation",
                                       "thermostat installation",
                                       "pipe repair",
                                       "faucet replacement",
                                       "toilet repair",
                                       "gas line inspection",
                                       "dryer vent cleaning",
                                       "appliance repair",
                                       "boiler service",
                                       "sump pump installation",
                                       "whole house repiping",
                                       "lighting installation",
                                       "ceiling fan installation",
                                       "hydro jetting",
                                       "camera inspection",
                                       "grease trap service",
                                       "water quality test",
                                       "heat pump service",
                                       "humidifier installation",
                                       "rewiring",
                                       "generator maintenance",
                                       "emergency plumbing"};

static const char *const brands[] = {"Rheem",     "Carrier", "Trane",  "Lennox",
                                     "Bosch",     "Kohler",  "Moen",   "Honeywell",
                                     "Whirlpool", "Daikin",  "Navien", "Generac"};

static const char *const cities[] = {
    "Springfield", "Riverside",  "Fairview", "Madison",    "Georgetown", "Clinton",   "Franklin",
    "Greenville",  "Bristol",    "Salem",    "Ashland",    "Burlington", "Dover",     "Hudson",
    "Kingston",    "Lexington",  "Milton",   "Newport",    "Oxford",     "Arlington", "Auburn",
    "Dayton",      "Marion",     "Jackson",  "Lebanon",    "Clayton",    "Shelby",    "Winchester",
    "Chester",     "Manchester", "Oakland",  "Brookfield", "Lakewood",   "Westfield", "Plymouth",
    "Hamilton",    "Monroe",     "Bedford",  "Cambridge",  "Concord"};

static const char *const streets[] = {
    "Maple Avenue",      "Oak Street",       "Pine Road",      "Cedar Lane",
    "Elm Street",        "Willow Drive",     "Birch Court",    "Lakeview Drive",
    "Hillcrest Road",    "Sunset Boulevard", "Park Avenue",    "River Road",
    "Church Street",     "Mill Road",        "Spring Street",  "Highland Avenue",
    "Forest Drive",      "Meadow Lane",      "Valley Road",    "Ridge Road",
    "Washington Street", "Jefferson Avenue", "Lincoln Way",    "Franklin Street",
    "Chestnut Street",   "Walnut Street",    "Sycamore Lane",  "Magnolia Drive",
    "Prospect Street",   "Orchard Lane",     "Harbor View",    "Bay Street",
    "Broad Street",      "Central Avenue",   "College Avenue", "Dogwood Drive",
    "Poplar Street",     "Aspen Way",        "Juniper Court",  "Cherry Lane"};

static const char *const plans[] = {"Basic Care",  "Comfort Club", "Premier Protection",
                                    "Home Shield", "Gold Service", "Platinum Plus"};

static const char *const mail_domains[] = {"gmail.com",   "yahoo.com",   "outlook.com",
                                           "icloud.com",  "hotmail.com", "proton.me",
                                           "comcast.net", "example.com"};

static const char *const months[] = {"January",   "February", "March",    "April",
                                     "May",       "June",     "July",     "August",
                                     "September", "October",  "November", "December"};

static const char *const weekdays[] = {"Thursday", "Friday",  "Saturday", "Sunday",
                                       "Monday",   "Tuesday", "Wednesday"};

static const char *const ordinals[] = {
    "",     "1st",  "2nd",  "3rd",  "4th",  "5th",  "6th",  "7th",  "8th",  "9th",  "10th",
    "11th", "12th", "13th", "14th", "15th", "16th", "17th", "18th", "19th", "20th", "21st",
    "22nd", "23rd", "24th", "25th", "26th", "27th", "28th", "29th", "30th", "31st"};

/* The agents: name on the payload and the business line it answers. */
static const struct agent_line {
    const char *name;
    const char *phone;
    unsigned weight;
} agents[] = {
    {"Front Desk Assistant", "+14155551212", 40}, {"Scheduling Assistant", "+14155551212", 20},
    {"Billing Assistant", "+14155551313", 15},    {"After Hours Assistant", "+14155551414", 15},
    {"Sales Assistant", "+14155551515", 10},
};

/* Caller numbers: country weights and how each is written in E.164. */
static const struct country {
    unsigned weight;
    const char *prefix;
    unsigned digits; /* random digits after the prefix (and area code) */
} countries[] = {
    {720, "+1", 7}, /* USA: an area code from below, then 7 digits */
    {60, "+1", 7},  /* Canada */
    {60, "+447", 9},  {30, "+4915", 9}, {30, "+336", 8},   {30, "+614", 8},
    {30, "+5255", 8}, {20, "+919", 9},  {20, "+55119", 8},
};

static const char *const us_areas[] = {"212", "312", "415", "617", "713", "206", "303", "404",
                                       "512", "602", "305", "214", "503", "612", "702", "215",
                                       "408", "619", "720", "919", "615", "801", "404", "646",
                                       "310", "773", "347", "510", "858", "971"};
static const char *const ca_areas[] = {"416", "604", "514", "403", "613", "780"};

/* ---- terms put in on purpose ---- */

const struct bench_term bench_gen_common[] = {
    {"cancellation", 200000},
    {"insurance", 150000},
    {"warranty", 120000},
    {"parking", 110000},
};
const size_t bench_gen_ncommon = NELEM(bench_gen_common);

const struct bench_term bench_gen_rare[] = {
    {"chandelier", 800}, {"saxophone", 500}, {"trampoline", 500},
    {"greenhouse", 400}, {"kayak", 300},     {"aquarium", 300},
};
const size_t bench_gen_nrare = NELEM(bench_gen_rare);

/* Sentences that carry each term (index-aligned with the tables above). */
static const char *const common_lines[][3] = {
    {"Is there a cancellation fee if I have to call it off the day before?",
     "My last invoice mentioned a cancellation charge of {amount2}, can you explain that?",
     "What is your cancellation policy if something comes up at work?"},
    {"Will my home insurance cover the {product} damage, and can you send a report for the claim?",
     "My insurance adjuster needs an itemized invoice, could you email one to me?",
     "Do you bill the insurance company directly or do I pay first and get reimbursed?"},
    {"I think the {product} is still under warranty, it was installed in {month} a couple of "
     "years ago.",
     "Does the warranty cover labor too, or only the parts?",
     "Can you check the warranty status on my {brand} unit before anyone comes out?"},
    {"Parking on {street} is tight, so the technician can use the driveway on the left.",
     "Just so you know, there is only street parking after six on weekdays.",
     "Is there customer parking at your {city} office if I drop by to pay?"},
};
static const char *const common_points[] = {
    "Caller asked about the cancellation fee",
    "Possible insurance claim for the {product}",
    "Caller believes the {product} is under warranty",
    "Parking instructions noted for the technician",
};
static const char *const rare_lines[] = {
    "Also, could the electrician look at the chandelier in the dining room while they are here?",
    "Sorry about the noise, my son is practising the saxophone upstairs.",
    "The technician will need to walk around the trampoline in the back yard to reach the meter.",
    "I also need an outdoor outlet run out to the greenhouse behind the garage.",
    "The side gate is blocked by a kayak, so please come through the front.",
    "There is a big aquarium right next to the panel, so please be careful in there.",
};

/* ---- conversations ---- */

struct scenario {
    const char *topic;
    const char *purpose;
    unsigned weight;
    unsigned negative; /* percent of calls with negative sentiment */
    const char *const *openers;
    const char *const *caller;
    const char *const *agent;
    const char *const *points;
    const char *const *actions;
    const char *const *outcomes;
    const char *const *reasons;
};

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct scenario scenarios[] = {
    {"Appointment Scheduling", "Schedule a service visit", 20, 5,
     LIST("Hi, I'd like to book a {service} sometime next week if you have anything open.",
          "Hello, I need someone to come out for a {service}, what does your schedule look like?",
          "Yeah hi, my {product} needs a look, can I set up a visit?"),
     LIST("Mornings are better for me, ideally before eleven.",
          "I work from home on {day}, so that would be perfect.",
          "The address is {house} {street} in {city}.",
          "Will it be {staff} again? He did a great job last time.",
          "How long does a {service} usually take?",
          "Can the technician call me about thirty minutes before arriving?",
          "We have a dog, but she will be in the back room.",
          "The {product} is in the basement, right at the bottom of the stairs."),
     LIST("I have an opening on {date} at {time}. Would that work for you?",
          "A {service} usually takes about {minutes} minutes, depending on what we find.",
          "I've booked {staff} for {date} at {time} at {house} {street}.",
          "The service call fee is {amount} and it goes toward any repair you approve.",
          "You'll get a text with the technician's photo when they are on the way.",
          "Could you confirm the address we have on file, {house} {street}?",
          "I can also offer {day} afternoon between one and three if that is easier.",
          "Our technicians carry most {brand} parts, so they can usually fix it in one visit."),
     LIST("{service} booked for {date} at {time}", "Technician {staff} assigned",
          "Service address {house} {street}, {city}"),
     LIST("Send appointment confirmation for {date} at {time}",
          "Add gate and pet notes to the work order", "Text the caller when {staff} is on the way"),
     LIST("a {service} was booked for {date} at {time} with {staff}",
          "the agent found a slot on {date} at {time} and booked {staff}"),
     LIST("Caller wants an earlier slot if one opens up",
          "Confirm the appointment window by text")},
    {"Rescheduling", "Move an existing appointment", 10, 10,
     LIST("Hi, I have an appointment on {day} and I need to move it.",
          "Hello, something came up and I can't be home for my {service} visit.",
          "I need to push back the technician visit, is that possible?"),
     LIST("My booking number is {order}, I think.",
          "Anything after three would be fine, or early the following week.",
          "I'm really sorry for the short notice.",
          "Could we do the same time but on {day} instead?",
          "Will I lose my spot in the queue if I move it?",
          "My partner can let them in, her name is {staff2}."),
     LIST("No problem, I see your {service} on the schedule. Let me look for another time.",
          "I can move you to {date} at {time}. Does that suit you?",
          "Your appointment is now {date} at {time}, and the old slot is released.",
          "I've added a note that {staff2} will let the technician in.",
          "You keep the same technician, {staff}, for the new date.",
          "I'll send an updated confirmation to your phone right away."),
     LIST("Appointment moved to {date} at {time}", "Booking {order} updated",
          "Another adult will be home to let the technician in"),
     LIST("Send updated confirmation for {date}", "Release the original slot",
          "Note the new contact person on the work order"),
     LIST("the appointment was moved to {date} at {time}",
          "the visit was rescheduled to {date} at {time} with {staff}"),
     LIST("Caller may need to move the appointment again",
          "Check whether an earlier slot opens up on {day}")},
    {"Billing", "Question about an invoice", 12, 25,
     LIST("Hi, I'm calling about invoice {order}, I think I was charged twice.",
          "Hello, I have a question about my last bill, it's higher than I expected.",
          "I got a bill for {amount} and I'd like to understand the charges."),
     LIST("The technician was only here for about {minutes} minutes.",
          "I paid with my card ending in {last4} on the day of the visit.",
          "Can I set up a payment plan for the rest?",
          "Nobody told me the part would cost {amount2}.",
          "I'd like an itemized copy sent to my email.",
          "I'm on the {plan} plan, doesn't that include a discount?"),
     LIST("I see invoice {order} for {amount}. Let me walk you through it.",
          "The labor charge covers the first hour, and the {product} part was {amount2}.",
          "You're right, I see two payments. I'll flag the duplicate for a refund review.",
          "Members on the {plan} plan get fifteen percent off repairs, so let me check that.",
          "I can split the balance into three payments with no fee.",
          "I'll email the itemized invoice to the address on file within the hour."),
     LIST("Caller disputes invoice {order} for {amount}", "Possible duplicate card payment",
          "Member discount for the {plan} plan questioned"),
     LIST("Review invoice {order} for a duplicate charge", "Email itemized invoice to the caller",
          "Apply the {plan} discount if it was missed"),
     LIST("the agent explained invoice {order} for {amount} and opened a billing review",
          "a review of invoice {order} was opened and an itemized copy was promised"),
     LIST("Billing team to confirm whether the second charge is refunded",
          "Caller expects a call back about the invoice total")},
    {"Order Status", "Check on a parts order", 8, 20,
     LIST("Hi, I'm checking on the part you ordered for my {product}.",
          "Hello, I was told a part would come in last week and I haven't heard anything.",
          "Can you tell me where my order {order} is?"),
     LIST("It's the replacement part for the {brand} unit.",
          "The technician said it would take three to five business days.",
          "We've been without hot water since {day}.",
          "Can you ship it to the house instead so I can see it arrive?",
          "Do you know if the technician will install it the same day it arrives?",
          "Honestly this has taken a lot longer than I was promised."),
     LIST("I see order {order} for a {brand} part; it shipped from the distributor on {day}.",
          "The tracking shows it arriving at our {city} warehouse by {date}.",
          "As soon as it arrives we'll call you to book the install.",
          "I'm sorry about the delay; the supplier was back-ordered.",
          "I can reserve an install slot for {date} at {time} now, so you don't wait twice.",
          "I've escalated the order to our parts coordinator, {staff2}."),
     LIST("Parts order {order} is in transit", "Expected at the warehouse by {date}",
          "Caller without full use of the {product} meanwhile"),
     LIST("Call the caller when order {order} arrives", "Hold an install slot for {date}",
          "Ask the parts coordinator for a firm delivery date"),
     LIST("the agent traced parts order {order}, due by {date}",
          "order {order} was found in transit and an install slot was held"),
     LIST("Parts coordinator to confirm the delivery date for order {order}",
          "Caller wants a call as soon as the part arrives")},
    {"Sales Inquiry", "Ask about a new installation", 10, 5,
     LIST("Hi, I'm thinking about replacing my old {product}, what do you recommend?",
          "Hello, do you install {product} units, and roughly what does that cost?",
          "I'd like a quote for a new {brand} {product}."),
     LIST("The current one is about {years} years old.",
          "It's a three bedroom house, around eighteen hundred square feet.",
          "Is there any rebate from the utility company right now?", "Do you offer financing?",
          "How soon could you do the installation?",
          "I'd like to compare a couple of options before deciding."),
     LIST(
         "For a home that size, most people go with a mid-range {brand} model.",
         "Installed prices usually start around {amount} including removal of the old unit.",
         "We offer financing with twelve months at zero percent for approved customers.",
         "There's currently a rebate of up to {amount2} from the utility on high efficiency units.",
         "A comfort advisor can come out on {date} at {time} for a free in-home estimate.",
         "Installation usually takes one day, and we haul away the old equipment."),
     LIST("Interested in a new {brand} {product}", "Existing unit is {years} years old",
          "Asked about financing and rebates"),
     LIST("Book a free in-home estimate for {date}", "Email the rebate details to the caller",
          "Send financing application link"),
     LIST("the agent priced a new {product} from {amount} and offered an estimate visit",
          "an in-home estimate for a {brand} {product} was offered for {date}"),
     LIST("Comfort advisor to call with options for the {product}",
          "Send a written quote for the {brand} model")},
    {"Technical Support", "Troubleshoot a problem at home", 10, 20,
     LIST("Hi, my {product} stopped working this morning and I'm not sure why.",
          "Hello, the {product} is making a loud banging noise.",
          "My {product} keeps shutting off after a few minutes."),
     LIST("I already tried turning it off and on again at the breaker.",
          "There's a red light blinking on the front panel, three times in a row.",
          "It's a {brand}, the model number starts with {order}.",
          "It started after the power went out on {day}.",
          "There's a little water on the floor next to it.",
          "Is it safe to keep using it until someone comes out?"),
     LIST("Three blinks on a {brand} usually means the pressure switch tripped.",
          "Please check that the filter isn't clogged, that causes this more often than not.",
          "For safety, switch it off at the breaker until the technician has looked at it.",
          "If the reset doesn't help, I can get a technician out on {date} at {time}.",
          "Can you read me the model number on the sticker inside the door?",
          "That noise is often sediment in the tank; a flush usually fixes it."),
     LIST("{brand} {product} failing with an error code", "Caller tried a reset already",
          "Safety advice given to switch it off"),
     LIST("Book diagnostic visit for the {product}", "Note the error code on the work order",
          "Check parts stock for the {brand} model"),
     LIST("the agent walked the caller through a reset of the {product} and booked a diagnostic",
          "the {product} fault was narrowed down and a technician visit was offered"),
     LIST("Technician to call before the visit to discuss the error code",
          "Caller wants a call back if the reset does not hold")},
    {"Complaint", "Complain about a recent visit", 7, 70,
     LIST("Hi, I'm calling because I'm really not happy with the visit on {day}.",
          "Hello, your technician left a mess and the problem isn't even fixed.",
          "I want to make a complaint about the {service} last week."),
     LIST("He showed up two hours late and didn't call ahead.",
          "The {product} is doing the exact same thing it was before.",
          "I paid {amount} and I expect it to actually work.",
          "There were muddy footprints all over the hallway.",
          "I'd like to speak to a manager about this.",
          "I've been a customer for {years} years and this has never happened."),
     LIST("I'm very sorry to hear that, that is not the experience we want you to have.",
          "I've written this up for our service manager, {staff2}, to review today.",
          "We'll send a senior technician back at no charge to finish the repair.",
          "I can offer a credit of {amount2} on your account for the trouble.",
          "Would {date} at {time} work for the return visit?",
          "Thank you for telling us; I've noted every detail you mentioned."),
     LIST("Caller unhappy with the {service} visit", "Repair did not fix the {product}",
          "Manager review requested"),
     LIST("Service manager {staff2} to call the caller", "Schedule a free return visit",
          "Apply a {amount2} goodwill credit"),
     LIST("the caller complained about the {service} visit and a free return visit was offered",
          "a complaint was logged for manager review and a credit of {amount2} was offered"),
     LIST("Service manager to call the caller about the complaint",
          "Caller asked for a manager call back today")},
    {"Emergency Service", "Report an urgent leak or outage", 6, 50,
     LIST("Hi, I have water coming through the ceiling, I need someone right now.",
          "Hello, we have no heat at all and it's freezing in here.",
          "There's a burning smell coming from the electrical panel."),
     LIST("I already shut off the main water valve.", "There are two small kids in the house.",
          "The water is coming from the upstairs bathroom.", "How fast can someone get here?",
          "Should I call the fire department?", "The address is {house} {street}, {city}."),
     LIST("Please stay away from the panel and switch off the main breaker if it is safe.",
          "I'm dispatching our on-call technician, {staff}, who is about {minutes} minutes away.",
          "If you see smoke or flames, leave the house and call nine one one right away.",
          "Emergency visits after hours have a call-out fee of {amount}.",
          "Turning off the main valve was exactly right; keep it off until we arrive.",
          "I've marked this as urgent and the technician will call you from the truck."),
     LIST("Emergency at {house} {street}", "Technician {staff} dispatched",
          "Safety instructions given"),
     LIST("Dispatch on-call technician {staff}", "Call the caller with an arrival time",
          "Follow up the next morning"),
     LIST("an emergency visit was dispatched with {staff} about {minutes} minutes out",
          "the agent gave safety instructions and dispatched the on-call technician"),
     LIST("Check the next morning that the emergency repair held",
          "Technician to call with an arrival time")},
    {"Quote Request", "Get a price estimate", 6, 5,
     LIST("Hi, I'd like a rough price for a {service}.",
          "Hello, how much would you charge to replace a {product}?",
          "Can I get an estimate for a {service} at a rental property?"),
     LIST("It's a duplex, so there are two units to do.",
          "I'm getting a few quotes before I decide.", "Do you charge for the estimate itself?",
          "The property is at {house} {street} in {city}.",
          "I'd need it done before the new tenants move in on {date}.",
          "Can you put the quote in writing?"),
     LIST("A {service} typically runs between {amount} and {amount2}.",
          "Estimates are free within our service area, which includes {city}.",
          "We can send a written quote after a short site visit.",
          "For two units we'd take ten percent off the second one.",
          "I can book the site visit for {date} at {time}.",
          "Pricing depends on access, so the technician will confirm on site."),
     LIST("Quote requested for a {service}", "Rental property with two units",
          "Deadline before new tenants on {date}"),
     LIST("Book a site visit for the estimate", "Email a written quote",
          "Note the move-in deadline"),
     LIST("the agent gave a price range for a {service} and offered a site visit",
          "a written quote for a {service} was promised after a site visit"),
     LIST("Estimator to send the written quote", "Caller comparing quotes, call back in a week")},
    {"Membership", "Ask about the maintenance plan", 5, 5,
     LIST("Hi, I'd like to know what the {plan} plan includes.",
          "Hello, I'm a member and I want to use my yearly tune-up.",
          "I'm thinking about signing up for one of your maintenance plans."),
     LIST("How many visits a year does that include?",
          "Does it cover both the furnace and the air conditioner?",
          "Can I pay monthly instead of once a year?", "My membership number is {order}.",
          "Is there a discount if I sign up today?",
          "Do members get priority when there's an emergency?"),
     LIST("The {plan} plan includes two tune-ups a year and priority scheduling.",
          "Members save fifteen percent on repairs and pay no overtime rates.",
          "It's {amount} a year, or you can pay monthly.",
          "I see membership {order}; your next tune-up is due in {month}.",
          "I can book the tune-up for {date} at {time}.",
          "Signing up today includes the first tune-up at no extra charge."),
     LIST("Asked about the {plan} plan", "Membership {order}", "Tune-up due in {month}"),
     LIST("Book the yearly tune-up", "Send the plan details by email",
          "Set up monthly billing for the membership"),
     LIST("the agent explained the {plan} plan at {amount} a year",
          "the caller's membership tune-up was booked for {date}"),
     LIST("Membership team to confirm the billing change",
          "Caller wants the plan comparison in writing")},
    {"Account Update", "Update contact or payment details", 4, 5,
     LIST("Hi, I moved and need to update my address.",
          "Hello, I'd like to change the card you have on file.",
          "I need to update the phone number on my account."),
     LIST("The new address is {house} {street}, {city}.",
          "Please use my mobile from now on, it ends in {last4}.",
          "Can you remove my old card completely?", "My email changed too.",
          "Will my appointments move to the new address automatically?",
          "Please don't send paper invoices anymore."),
     LIST("I've updated the service address to {house} {street}, {city}.",
          "For security I can't take card numbers by phone; I'll text you a secure link.",
          "Your upcoming visit on {date} now points to the new address.",
          "I've switched you to email invoices only.",
          "Could you spell the new email address for me?",
          "Everything is updated; you'll get a confirmation shortly."),
     LIST("Service address changed to {city}", "Paperless invoices requested",
          "Card update sent by secure link"),
     LIST("Send secure card update link", "Confirm the new address by email",
          "Move upcoming visits to the new address"),
     LIST("the account's address and contact details were updated",
          "the agent updated the account and sent a secure link for the card"),
     LIST("Check that the new card was added", "Confirm the service area covers {city}")},
    {"General Question", "Ask about hours and service area", 2, 5,
     LIST("Hi, are you open on weekends?", "Hello, do you service the {city} area?",
          "Quick question, what are your hours?"),
     LIST("I'm in {city}, near {street}.", "Is there an extra charge on Saturdays?",
          "Do you do commercial work as well?", "Can I pay in cash?",
          "Do you have an office I can visit?", "Thanks, that's really helpful."),
     LIST("We're open Monday to Saturday, seven to seven, with on-call service overnight.",
          "Yes, {city} is inside our service area.",
          "Saturday visits are charged at the regular rate.",
          "We do light commercial work too, for offices and small shops.",
          "Our office is at {house} {street}, {city}.", "We take cards, checks and cash."),
     LIST("Asked about opening hours", "Caller is in {city}", "Asked about payment options"),
     LIST("Send the service area map", "Add the caller to the newsletter list"),
     LIST("the agent answered questions about hours and the service area",
          "the caller learned the opening hours and that {city} is covered"),
     LIST("Caller may call back to book", "Send the price list by email")},
};

static const char *const greetings[] = {
    "Thanks for calling Northwind Home Services, this is {agent}. How can I help you today?",
    "Good morning, Northwind Home Services, {agent} speaking. What can I do for you?",
    "Hi, you've reached Northwind Home Services. My name is {agent}, how can I help?",
    "Northwind Home Services, this is {agent}, your virtual assistant. How may I help you?",
    "Hello and thank you for calling Northwind. I'm {agent}. What brings you in today?",
};
static const char *const outbound_greetings[] = {
    "Hi, this is {agent} calling from Northwind Home Services. Is this {first}?",
    "Hello, {agent} here from Northwind Home Services, returning your call. Do you have a "
    "minute?",
    "Good afternoon, this is {agent} from Northwind. I'm calling about your recent request.",
};
static const char *const verify_asks[] = {
    "I can help with that. Could I have your full name, please?",
    "Sure. Can you confirm the name on the account?",
    "Of course. Who am I speaking with today?",
    "Happy to help. May I have your name and the address of the property?",
    "Let me pull up your account. What name is it under?",
};
static const char *const name_answers[] = {
    "It's {full}.",
    "{full}, and the account should be under my name.",
    "Sure, it's {first} {last}.",
    "My name is {full}. The number on file is the one I'm calling from.",
    "{full}. You can reach me at {email} too.",
    "This is {first}. Last name {last}.",
};
static const char *const agent_general[] = {
    "Thanks, {first}. I've found your account.",
    "Let me check that for you, it will take just a moment.",
    "I understand. Let me see what I can do.",
    "Got it. I've made a note of that on your account.",
    "Could you spell your last name for me, please?",
    "Is {email} still the best email for you?",
    "And is the best number to reach you the one ending in {last4}?",
    "I appreciate your patience while I look that up.",
    "Just to confirm, that's {house} {street} in {city}?",
    "That makes sense. I'll pass it on to the team.",
    "Our technicians are all licensed, background checked and carry ID.",
    "I can send you a text with all of these details.",
    "Would you like a reminder the day before?",
    "Is there a gate code or anything else the technician should know?",
    "Right, I see the visit from {month} with {staff2} on your history.",
    "No problem at all, take your time.",
    "Okay, I have updated that for you.",
    "Do you have any pets we should know about?",
    "Let me double check the price so I give you the right number.",
    "We'll take care of it.",
};
static const char *const caller_general[] = {
    "Okay, great.",
    "Yes, that's right.",
    "Sure, one second, let me grab a pen.",
    "That works for me.",
    "Sorry, could you repeat that?",
    "Hmm, let me think about it for a second.",
    "Yes, the email is {email}.",
    "The number ending in {last4} is my cell, that's the best one.",
    "We're at {house} {street}, it's the blue house on the corner.",
    "The gate code is {last4}.",
    "Perfect, thank you so much.",
    "No, that's it for that part.",
    "Honestly I just want it fixed as soon as possible.",
    "I had {staff2} out here back in {month} and he was great.",
    "Do I need to be home the whole time?",
    "Okay, and how much will that be roughly?",
    "Yes please, a text would be great.",
    "We have a cat, but she hides from strangers.",
    "Alright, sounds good.",
    "I'm usually at work until five thirty.",
};
static const char *const wrapups[] = {
    "Is there anything else I can help you with today?",
    "Is there anything else I can do for you, {first}?",
    "You're all set. Anything else before I let you go?",
    "I've sent the details to your phone. Anything else today?",
};
static const char *const closings[] = {
    "No, that's everything. Thanks for your help!",
    "That's all, thank you. Have a good day.",
    "Nope, that covers it. Bye now.",
    "No thanks, you've been very helpful.",
    "That's it, thanks {agent}.",
};
static const char *const questions[] = {
    "Does the {plan} plan cover repairs to the {product}?",
    "Can the technician give an exact arrival time for {date}?",
    "Is there a discount for seniors or veterans?",
    "How long do {brand} parts usually take to arrive?",
    "Can the old {product} be recycled instead of thrown away?",
    "Will the price change if the job takes longer than {minutes} minutes?",
    "Do you install units bought somewhere else?",
    "Can a visit be booked on a Sunday?",
    "Is the {amount2} fee refundable if nothing is found?",
    "Do you need a permit from {city} for this work?",
    "Can two services be done in the same visit?",
    "Is there a charge for a second opinion?",
};
static const char *const sentiments[] = {"positive", "neutral", "negative"};
static const char *const ended_reasons[] = {"caller_hangup", "agent_hangup", "transfer",
                                            "voicemail"};
static const unsigned ended_weights[] = {70, 20, 7, 3};

/* ---- one call ---- */

struct gen {
    struct bench_rng rng;
    const struct scenario *sc;
    const char *first, *last, *persona, *product, *service, *city, *street, *plan, *brand, *staff;
    char email[96];
    char phone[24];
    char last4[8];
    char amount[24];
    char order[16];
    char date_text[48]; /* "Friday, March 13th" */
    char date_iso[32];  /* "2026-03-13" */
    char time_text[24]; /* "10:30 AM" */
    char time_hm[24];   /* "10:30" */
    unsigned house, years;
    bool used_email, used_date;
};

#define PICK(g, a) ((a)[bench_rng_below(&(g)->rng, (uint32_t)NELEM(a))])

/* The length of a NULL-terminated LIST(). */
static uint32_t list_len(const char *const *list)
{
    uint32_t n = 0;

    while (list[n] != NULL)
        n++;
    return n;
}

static const char *pick_list(struct gen *g, const char *const *list)
{
    return list[bench_rng_below(&g->rng, list_len(list))];
}

static void amount_text(struct gen *g, char *out, size_t outsz)
{
    unsigned cents = 4900 + bench_rng_below(&g->rng, 240000);

    if (cents >= 100000)
        snprintf(out, outsz, "$%u,%03u.%02u", cents / 100000, cents / 100 % 1000, cents % 100);
    else
        snprintf(out, outsz, "$%u.%02u", cents / 100, cents % 100);
}

/* Append the value of slot name[0..len) to b. */
static void slot(struct gen *g, struct buf *b, const char *name, size_t len)
{
    char tmp[64];

#define IS(s) (len == sizeof(s) - 1 && memcmp(name, s, len) == 0)
    if (IS("first")) {
        buf_puts(b, g->first);
    } else if (IS("last")) {
        buf_puts(b, g->last);
    } else if (IS("full")) {
        buf_printf(b, "%s %s", g->first, g->last);
    } else if (IS("agent")) {
        buf_puts(b, g->persona);
    } else if (IS("staff")) {
        buf_puts(b, g->staff);
    } else if (IS("staff2")) {
        buf_puts(b, PICK(g, staff_names));
    } else if (IS("date")) {
        buf_puts(b, g->date_text);
        g->used_date = true;
    } else if (IS("day")) {
        buf_printf(b, "%.*s", (int)strcspn(g->date_text, ","), g->date_text);
    } else if (IS("time")) {
        buf_puts(b, g->time_text);
        g->used_date = true;
    } else if (IS("amount")) {
        buf_puts(b, g->amount);
    } else if (IS("amount2")) {
        amount_text(g, tmp, sizeof tmp);
        buf_puts(b, tmp);
    } else if (IS("order")) {
        buf_puts(b, g->order);
    } else if (IS("product")) {
        buf_puts(b, g->product);
    } else if (IS("service")) {
        buf_puts(b, g->service);
    } else if (IS("brand")) {
        buf_puts(b, g->brand);
    } else if (IS("city")) {
        buf_puts(b, g->city);
    } else if (IS("street")) {
        buf_puts(b, g->street);
    } else if (IS("house")) {
        buf_printf(b, "%u", g->house);
    } else if (IS("plan")) {
        buf_puts(b, g->plan);
    } else if (IS("email")) {
        buf_puts(b, g->email);
        g->used_email = true;
    } else if (IS("last4")) {
        buf_puts(b, g->last4);
    } else if (IS("minutes")) {
        buf_printf(b, "%u", 15 + 5 * bench_rng_below(&g->rng, 16));
    } else if (IS("years")) {
        buf_printf(b, "%u", g->years);
    } else if (IS("month")) {
        buf_puts(b, PICK(g, months));
    } else {
        buf_printf(b, "{%.*s}", (int)len, name); /* a typo in a template shows */
    }
#undef IS
}

/* Append template t with its {slots} filled. */
static void expand(struct gen *g, struct buf *b, const char *t)
{
    while (*t != '\0') {
        const char *open = strchr(t, '{'), *close;
        if (open == NULL || (close = strchr(open, '}')) == NULL) {
            buf_puts(b, t);
            return;
        }
        buf_append(b, t, (size_t)(open - t));
        slot(g, b, open + 1, (size_t)(close - open - 1));
        t = close + 1;
    }
}

/* Append s as a JSON string (with quotes). */
static void json_str(struct buf *b, const char *s, size_t len)
{
    const char *run = s;

    buf_append(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        buf_append(b, run, (size_t)(s + i - run));
        if (c == '\n')
            buf_puts(b, "\\n");
        else if (c == '"' || c == '\\')
            buf_printf(b, "\\%c", c);
        else
            buf_printf(b, "\\u%04x", c);
        run = s + i + 1;
    }
    buf_append(b, run, (size_t)(s + len - run));
    buf_append(b, "\"", 1);
}

static void json_key_str(struct buf *b, const char *key, const char *value)
{
    buf_printf(b, ",\"%s\":", key);
    json_str(b, value, strlen(value));
}

/* Append an E.164 number drawn from the country mix to out. */
static void phone_make(struct bench_rng *r, char *out, size_t outsz)
{
    unsigned total = 0, w;
    size_t c = 0, n;

    for (size_t i = 0; i < NELEM(countries); i++)
        total += countries[i].weight;
    w = bench_rng_below(r, total);
    while (w >= countries[c].weight)
        w -= countries[c++].weight;
    if (c == 0)
        n = (size_t)snprintf(out, outsz, "+1%s%u", us_areas[bench_rng_below(r, NELEM(us_areas))],
                             2 + bench_rng_below(r, 8));
    else if (c == 1)
        n = (size_t)snprintf(out, outsz, "+1%s%u", ca_areas[bench_rng_below(r, NELEM(ca_areas))],
                             2 + bench_rng_below(r, 8));
    else
        n = (size_t)snprintf(out, outsz, "%s%u", countries[c].prefix, 1 + bench_rng_below(r, 9));
    for (unsigned i = 1; i < countries[c].digits && n + 1 < outsz; i++)
        out[n++] = (char)('0' + bench_rng_below(r, 10));
    out[n] = '\0';
}

void bench_gen_repeat_phone(uint64_t seed, unsigned k, char *out, size_t outsz)
{
    struct bench_rng r;

    bench_rng_seed(&r, seed ^ UINT64_C(0x5eed0fca11e55), k);
    phone_make(&r, out, outsz);
}

/* The repeat caller k's name: the same on every call. */
static void repeat_name(uint64_t seed, unsigned k, const char **first, const char **last)
{
    struct bench_rng r;

    bench_rng_seed(&r, seed ^ UINT64_C(0x5eed0fca11e55), k);
    bench_rng_next(&r);
    *first = first_names[bench_rng_below(&r, NELEM(first_names))];
    *last = last_names[bench_rng_below(&r, NELEM(last_names))];
}

/* "maria.hernandez@gmail.com", "maria.h@..." or "mariahernandez42@...": ASCII letters only. */
static void email_make(struct gen *g)
{
    const char *parts[2] = {g->first, g->last};
    unsigned style = bench_rng_below(&g->rng, 3);
    size_t n = 0;

    for (int p = 0; p < 2; p++) {
        for (const char *s = parts[p]; *s != '\0' && n < 40; s++) {
            if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) {
                g->email[n++] = (char)(*s | 0x20);
                if (p == 1 && style == 1)
                    break;
            }
        }
        if (p == 0 && style != 2)
            g->email[n++] = '.';
    }
    if (style == 2)
        n += (size_t)snprintf(g->email + n, sizeof g->email - n, "%u",
                              10 + bench_rng_below(&g->rng, 90));
    snprintf(g->email + n, sizeof g->email - n, "@%s", PICK(g, mail_domains));
}

/* Civil date (proleptic Gregorian) of a day number since 1970-01-01. */
static void civil(int64_t days, int *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + (unsigned)era * 400) + (*m <= 2);
}

/* The appointment the call talks about: 1-21 days after it, 8:00-17:30. */
static void appointment_make(struct gen *g, int64_t started_ms)
{
    int64_t day = started_ms / 86400000 + 1 + bench_rng_below(&g->rng, 21);
    unsigned slot30 = 16 + bench_rng_below(&g->rng, 20), m, d, h = slot30 / 2;
    int y;

    civil(day, &y, &m, &d);
    snprintf(g->date_text, sizeof g->date_text, "%s, %s %s", weekdays[(day % 7 + 7) % 7],
             months[m - 1], ordinals[d]);
    snprintf(g->date_iso, sizeof g->date_iso, "%04d-%02u-%02u", y, m, d);
    snprintf(g->time_text, sizeof g->time_text, "%u:%s %s", h > 12 ? h - 12 : h,
             slot30 % 2 ? "30" : "00", h >= 12 ? "PM" : "AM");
    snprintf(g->time_hm, sizeof g->time_hm, "%02u:%s", h, slot30 % 2 ? "30" : "00");
}

/* A ULID-like id: 48 bits of time and 80 of randomness, Crockford base32. */
static void call_id_make(struct gen *g, int64_t started_ms, char *out, size_t outsz)
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint64_t t = (uint64_t)started_ms, r1 = bench_rng_next(&g->rng), r2 = bench_rng_next(&g->rng);
    char id[27];

    for (int i = 9; i >= 0; i--, t >>= 5)
        id[i] = b32[t & 31];
    for (int i = 10; i < 26; i++) {
        id[i] = b32[r1 & 31];
        r1 = (r1 >> 5) | (r2 << 59);
        r2 >>= 5;
    }
    id[26] = '\0';
    snprintf(out, outsz, "call_%s", id);
}

int64_t bench_gen_started_ms(uint64_t seed, uint64_t index, uint64_t count)
{
    struct bench_rng r;
    int64_t step = BENCH_GEN_SPAN_MS / (int64_t)(count ? count : 1);

    bench_rng_seed(&r, seed ^ UINT64_C(0x7133), index);
    int64_t ms = BENCH_GEN_END_MS - BENCH_GEN_SPAN_MS + (int64_t)index * step +
                 (step > 1 ? (int64_t)(bench_rng_next(&r) % (uint64_t)step) : 0);

    return ms - ms % 1000; /* Phonely sends whole seconds */
}

/*
 * Append ,"key":[...] with min..max distinct items of list[0..n) expanded,
 * then extra (expanded) when not NULL. n is at most 32.
 */
static void json_list(struct gen *g, struct buf *b, const char *key, const char *const *list,
                      uint32_t n, unsigned min, unsigned max, const char *extra)
{
    struct buf item = {0};
    uint32_t want = min + bench_rng_below(&g->rng, max - min + 1), used = 0, count = 0;

    if (want > n)
        want = n;
    buf_printf(b, ",\"%s\":[", key);
    for (uint32_t i = 0; i < want; i++) {
        uint32_t k = bench_rng_below(&g->rng, n);
        while (used & (1u << k))
            k = (k + 1) % n;
        used |= 1u << k;
        buf_reset(&item);
        expand(g, &item, list[k]);
        if (count++ > 0)
            buf_append(b, ",", 1);
        json_str(b, item.data, item.len);
    }
    if (extra != NULL) {
        buf_reset(&item);
        expand(g, &item, extra);
        if (count > 0)
            buf_append(b, ",", 1);
        json_str(b, item.data, item.len);
    }
    buf_append(b, "]", 1);
    buf_free(&item);
}

/* Append a sentence for the summaries: text with its first letter in lower case. */
static void append_lower_first(struct buf *b, const char *s)
{
    size_t at = b->len;

    buf_puts(b, s);
    if (b->data[at] >= 'A' && b->data[at] <= 'Z')
        b->data[at] = (char)(b->data[at] | 0x20);
}

#define MAX_TURNS 40

/*
 * A line for the middle of the conversation: the scenario's own lines or
 * general ones, avoiding (a few tries) lines this call already used.
 */
static const char *middle_line(struct gen *g, bool agent_turn, const char **used, size_t *nused)
{
    const char *t = NULL;

    for (int tries = 0; tries < 6; tries++) {
        bool seen = false;
        if (agent_turn)
            t = chance(&g->rng, 600000) ? pick_list(g, g->sc->agent) : PICK(g, agent_general);
        else
            t = chance(&g->rng, 500000) ? pick_list(g, g->sc->caller) : PICK(g, caller_general);
        for (size_t i = 0; i < *nused && !seen; i++)
            seen = used[i] == t;
        if (!seen)
            break;
    }
    if (*nused < MAX_TURNS)
        used[(*nused)++] = t;
    return t;
}

void bench_gen_call(struct buf *b, uint64_t seed, uint64_t index, const char *call_id,
                    int64_t started_ms)
{
    struct gen g;
    struct buf turns[MAX_TURNS], text = {0}, tail = {0}, mark = {0};
    const struct agent_line *agent;
    const char *point_mark = NULL, *sentiment, *ended_reason;
    unsigned nturns, total, w, duration, neg;
    char id[64], when[40], ended[40], purpose[128];
    const char *used[MAX_TURNS];
    size_t nused = 0;
    bool outbound;

    memset(&g, 0, sizeof g);
    memset(turns, 0, sizeof turns);
    bench_rng_seed(&g.rng, seed, index);

    /* Who, what, where. */
    total = 0;
    for (size_t i = 0; i < NELEM(scenarios); i++)
        total += scenarios[i].weight;
    w = bench_rng_below(&g.rng, total);
    g.sc = scenarios;
    while (w >= g.sc->weight)
        w -= (g.sc++)->weight;
    total = 0;
    for (size_t i = 0; i < NELEM(agents); i++)
        total += agents[i].weight;
    w = bench_rng_below(&g.rng, total);
    agent = agents;
    while (w >= agent->weight)
        w -= (agent++)->weight;
    if (chance(&g.rng, 300000)) {
        unsigned k = bench_rng_below(&g.rng, BENCH_GEN_REPEAT_CALLERS);
        bench_gen_repeat_phone(seed, k, g.phone, sizeof g.phone);
        repeat_name(seed, k, &g.first, &g.last);
    } else {
        phone_make(&g.rng, g.phone, sizeof g.phone);
        g.first = PICK(&g, first_names);
        g.last = PICK(&g, last_names);
    }
    snprintf(g.last4, sizeof g.last4, "%s", g.phone + strlen(g.phone) - 4);
    g.persona = PICK(&g, personas);
    g.product = PICK(&g, products);
    g.service = PICK(&g, services);
    g.city = PICK(&g, cities);
    g.street = PICK(&g, streets);
    g.plan = PICK(&g, plans);
    g.brand = PICK(&g, brands);
    g.staff = PICK(&g, staff_names);
    g.house = 10 + bench_rng_below(&g.rng, 9990);
    g.years = 2 + bench_rng_below(&g.rng, 18);
    snprintf(g.order, sizeof g.order, "%u", 10000 + bench_rng_below(&g.rng, 990000));
    amount_text(&g, g.amount, sizeof g.amount);
    email_make(&g);
    appointment_make(&g, started_ms);
    outbound = chance(&g.rng, 120000);
    if (call_id == NULL) {
        call_id_make(&g, started_ms, id, sizeof id);
        call_id = id;
    }

    /* The conversation: greeting, request, name, the middle, goodbye. */
    nturns = 10 + 2 * bench_rng_below(&g.rng, (MAX_TURNS - 10) / 2 + 1); /* even: the agent opens */
    for (unsigned t = 0; t < nturns; t++) {
        struct buf *tb = &turns[t];
        bool agent_turn = t % 2 == 0;
        if (t == 0)
            expand(&g, tb, outbound ? PICK(&g, outbound_greetings) : PICK(&g, greetings));
        else if (t == 1)
            expand(&g, tb, pick_list(&g, g.sc->openers));
        else if (t == 2)
            expand(&g, tb, PICK(&g, verify_asks));
        else if (t == 3)
            expand(&g, tb, PICK(&g, name_answers));
        else if (t == nturns - 2)
            expand(&g, tb, PICK(&g, wrapups));
        else if (t == nturns - 1)
            expand(&g, tb, PICK(&g, closings));
        else
            expand(&g, tb, middle_line(&g, agent_turn, used, &nused));
        if (!agent_turn && t > 3 && t < nturns - 1 && bench_rng_below(&g.rng, 8) == 0) {
            /* Callers often say two things in a row. */
            buf_append(tb, " ", 1);
            expand(&g, tb, PICK(&g, caller_general));
        }
    }

    /*
     * The terms the search benchmarks look for, each in a caller turn of
     * the middle (odd turns 5..nturns-3); common ones may reach the key
     * points and the long summary too, as an analysis would.
     */
    for (size_t i = 0; i < NELEM(bench_gen_common) + NELEM(bench_gen_rare); i++) {
        bool common = i < NELEM(bench_gen_common);
        size_t k = common ? i : i - NELEM(bench_gen_common);
        if (!chance(&g.rng, common ? bench_gen_common[k].ppm : bench_gen_rare[k].ppm))
            continue;
        unsigned t = 5 + 2 * bench_rng_below(&g.rng, (nturns - 6) / 2);
        buf_append(&turns[t], " ", 1);
        expand(&g, &turns[t], common ? common_lines[k][bench_rng_below(&g.rng, 3)] : rare_lines[k]);
        if (common && bench_rng_below(&g.rng, 2) == 0) {
            if (point_mark == NULL)
                point_mark = common_points[k];
            buf_append(&mark, "; ", 2);
            struct buf m = {0};
            expand(&g, &m, common_points[k]);
            append_lower_first(&mark, m.data);
            buf_free(&m);
        }
    }

    /* The analysis, written first: it may mention the email or the appointment too. */
    snprintf(purpose, sizeof purpose, "%s", g.sc->purpose);
    purpose[0] = (char)(purpose[0] | 0x20);
    neg = g.sc->negative;
    w = bench_rng_below(&g.rng, 100);
    sentiment = w < neg                          ? sentiments[2]
                : w < neg + (100 - neg) * 6 / 10 ? sentiments[0]
                                                 : sentiments[1];
    buf_printf(&text, "%s %s called to %s; ", g.first, g.last, purpose);
    expand(&g, &text, pick_list(&g, g.sc->outcomes));
    buf_append(&text, ".", 1);
    buf_puts(&tail, ",\"summary\":");
    json_str(&tail, text.data, text.len);
    buf_reset(&text);
    buf_printf(&text,
               "%s %s called Northwind Home Services to %s. The %s verified the caller, and ",
               g.first, g.last, purpose, agent->name);
    expand(&g, &text, pick_list(&g, g.sc->outcomes));
    buf_printf(&text, ". The caller mentioned the %s at %u %s in %s", g.product, g.house, g.street,
               g.city);
    if (mark.len > 0)
        buf_append(&text, mark.data, mark.len);
    buf_puts(&text, sentiment == sentiments[0]   ? ". The caller was satisfied and the call ended "
                                                   "cordially."
                    : sentiment == sentiments[1] ? ". The call ended without further questions."
                                                 : ". The caller was still frustrated when the "
                                                   "call ended.");
    buf_puts(&tail, ",\"longSummary\":");
    json_str(&tail, text.data, text.len);
    json_key_str(&tail, "purpose", g.sc->purpose);
    json_key_str(&tail, "topic", g.sc->topic);
    json_key_str(&tail, "sentiment", sentiment);
    json_list(&g, &tail, "keyPoints", g.sc->points, list_len(g.sc->points), 2, 3,
              bench_rng_below(&g.rng, 5) < 3 ? point_mark : NULL);
    if (bench_rng_below(&g.rng, 4) == 0)
        json_list(&g, &tail, "unansweredQuestions", questions, NELEM(questions), 1, 2, NULL);
    else
        buf_puts(&tail, ",\"unansweredQuestions\":[]");
    json_list(&g, &tail, "actionItems", g.sc->actions, list_len(g.sc->actions), 1, 3, NULL);
    if (bench_rng_below(&g.rng, 3) == 0) {
        json_key_str(&tail, "followUp", "yes");
        buf_reset(&text);
        expand(&g, &text, pick_list(&g, g.sc->reasons));
        buf_puts(&tail, ",\"followUpReason\":");
        json_str(&tail, text.data, text.len);
    } else {
        json_key_str(&tail, "followUp", "no");
        json_key_str(&tail, "followUpReason", "");
    }
    json_key_str(&tail, "ai_success", bench_rng_below(&g.rng, 100) < 85 ? "true" : "false");
    if (bench_rng_below(&g.rng, 10) != 0)
        buf_printf(&tail, ",\"recordingUrl\":\"https://app.phonely.ai/recordings/%s.mp3\"",
                   call_id);
    buf_printf(&tail, ",\"dashboardUrl\":\"https://app.phonely.ai/calls/%s\"", call_id);
    w = bench_rng_below(&g.rng, 100);
    ended_reason = ended_reasons[0];
    for (size_t i = 0; i < NELEM(ended_reasons); i++) {
        if (w < ended_weights[i]) {
            ended_reason = ended_reasons[i];
            break;
        }
        w -= ended_weights[i];
    }
    json_key_str(&tail, "endedReason", ended_reason);
    buf_append(&tail, "}", 1);

    /* The body, in the order Phonely sends it. */
    time_format_iso8601(started_ms, when, sizeof when);
    duration = nturns * (7 + bench_rng_below(&g.rng, 6)) + bench_rng_below(&g.rng, 30);
    time_format_iso8601(started_ms + (int64_t)duration * 1000, ended, sizeof ended);
    buf_reset(b);
    buf_puts(b, "{\"callId\":");
    json_str(b, call_id, strlen(call_id));
    json_key_str(b, "agentName", agent->name);
    if (bench_rng_below(&g.rng, 10) != 0) {
        buf_reset(&text);
        buf_printf(&text, "%s %s", g.first, g.last);
        json_key_str(b, "callerName", text.data);
    }
    json_key_str(b, "callDirection", outbound ? "outbound" : "inbound");
    json_key_str(b, "callStarted", when);
    json_key_str(b, "callEnded", ended);
    buf_printf(b, ",\"duration\":%u", duration);
    json_key_str(b, "businessPhoneNumber", agent->phone);
    json_key_str(b, "customerPhoneNumber", g.phone);
    if (g.used_email)
        json_key_str(b, "mentionedEmail", g.email);
    else
        buf_puts(b, ",\"mentionedEmail\":null");
    if (g.used_date) {
        json_key_str(b, "mentionedDate", g.date_iso);
        json_key_str(b, "mentionedTime", g.time_hm);
    } else {
        buf_puts(b, ",\"mentionedDate\":null,\"mentionedTime\":null");
    }
    buf_reset(&text);
    for (unsigned t = 0; t < nturns; t++)
        buf_printf(&text, "%s%s: %s", t ? "\n" : "", t % 2 ? "User" : "Agent", turns[t].data);
    buf_puts(b, ",\"transcriptText\":");
    json_str(b, text.data, text.len);
    buf_puts(b, ",\"transcript\":[");
    for (unsigned t = 0; t < nturns; t++) {
        buf_printf(b, "%s{\"role\":\"%s\",\"content\":", t ? "," : "", t % 2 ? "user" : "agent");
        json_str(b, turns[t].data, turns[t].len);
        buf_append(b, "}", 1);
    }
    buf_append(b, "]", 1);
    buf_append(b, tail.data, tail.len);

    buf_free(&text);
    buf_free(&tail);
    buf_free(&mark);
    for (unsigned t = 0; t < nturns; t++)
        buf_free(&turns[t]);
}

/* ---- figures ---- */

/* Append line to $PHONELY_BENCH_RESULTS, when set. */
static void results_append(const char *line)
{
    const char *path = getenv("PHONELY_BENCH_RESULTS");
    FILE *f;

    if (path == NULL || *path == '\0' || (f = fopen(path, "a")) == NULL)
        return;
    fprintf(f, "%s\n", line);
    fclose(f);
}

void bench_figure(const char *name, double value, const char *unit)
{
    char num[64], line[512];
    double a = value < 0 ? -value : value;

    /* Enough digits to compare runs, no more. */
    if (a >= 1000 || a == 0)
        snprintf(num, sizeof num, "%.0f", value);
    else if (a >= 100)
        snprintf(num, sizeof num, "%.1f", value);
    else if (a >= 1)
        snprintf(num, sizeof num, "%.2f", value);
    else
        snprintf(num, sizeof num, "%.3g", value);
    snprintf(line, sizeof line, "%-40s %12s %s", name, num, unit);
    printf("%s\n", line);
    fflush(stdout);
    results_append(line);
}

void bench_figuref(double value, const char *unit, const char *fmt, ...)
{
    char name[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    bench_figure(name, value, unit);
}

void bench_note(const char *key, const char *fmt, ...)
{
    char text[400], line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "# %s %s", key, text);
    printf("%s\n", line);
    fflush(stdout);
    results_append(line);
}

/* ---- processes ---- */

long bench_proc_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t flen = strlen(field);
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            kb = strtol(line + flen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

#define WATCH_MAX 64
static volatile sig_atomic_t watched[WATCH_MAX];

static void watchdog_fire(int sig)
{
    static const char msg[] = "bench: time limit reached; stopping\n";

    (void)sig;
    for (int i = 0; i < WATCH_MAX; i++)
        if (watched[i] > 0)
            kill((pid_t)watched[i], SIGKILL);
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}

void bench_watchdog(unsigned seconds)
{
    signal(SIGALRM, watchdog_fire);
    alarm(seconds);
}

void bench_watch(pid_t pid)
{
    for (int i = 0; i < WATCH_MAX; i++)
        if (watched[i] == 0) {
            watched[i] = (sig_atomic_t)pid;
            return;
        }
}

void bench_unwatch(pid_t pid)
{
    for (int i = 0; i < WATCH_MAX; i++)
        if (watched[i] == (sig_atomic_t)pid)
            watched[i] = 0;
}
