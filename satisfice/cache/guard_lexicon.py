"""Word lists for the semantic-cache guard (satisfice/cache/guard.py): closed classes of words where
swapping one member for another changes the answer. General English, not fitted to one data set."""

from __future__ import annotations


def _w(words: str) -> list[str]:
    return words.split()


# Negation words, all counted as one kind: "without eggs" and "with no eggs" say the same thing.
NEGATIONS: dict[str, str] = dict.fromkeys(
    ("not", "no", "never", "without", "none", "nothing", "nobody", "neither", "nor", "nowhere"), "not"
)
# And in French, German, Spanish, Italian, Portuguese: "sans oeufs" is not "avec des oeufs".
NEGATIONS |= dict.fromkeys(
    _w(
        "sans pas jamais rien aucun aucune ohne nicht kein keine keinen nie niemals nichts sin nunca nada "
        "ningún ninguna senza mai niente nessuno sem não nenhum nenhuma"
    ),
    "not",
)

# A word with one of these prefixes, where the other text has the bare word: unlock/lock, illegal/legal.
NEG_PREFIXES = ("un", "dis", "non", "in", "im", "il", "ir", "de", "anti")

# Pairs of opposites: a pair whose counts differ between the texts, with each word used, rejects.
OPPOSITES: tuple[tuple[str, str], ...] = (
    ("on", "off"),
    ("start", "stop"),
    ("enable", "disable"),
    ("include", "exclude"),
    ("include", "remove"),
    ("keep", "remove"),
    ("add", "remove"),
    ("accept", "decline"),
    ("accept", "reject"),
    ("required", "optional"),
    ("allow", "deny"),
    ("allow", "block"),
    ("open", "close"),
    ("increase", "decrease"),
    ("increase", "reduce"),
    ("more", "less"),
    ("more", "fewer"),
    ("ascending", "descending"),
    ("up", "down"),
    ("before", "after"),
    ("max", "min"),
    ("maximum", "minimum"),
    ("maximize", "minimize"),
    ("true", "false"),
    ("win", "lose"),
    ("buy", "sell"),
    ("import", "export"),
    ("upload", "download"),
    ("encrypt", "decrypt"),
    ("show", "hide"),
    ("public", "private"),
    ("sync", "async"),
    ("synchronous", "asynchronous"),
    ("left", "right"),
    ("high", "low"),
    ("higher", "lower"),
    ("highest", "lowest"),
    ("big", "small"),
    ("bigger", "smaller"),
    ("larger", "smaller"),
    ("largest", "smallest"),
    ("fast", "slow"),
    ("faster", "slower"),
    ("cheap", "expensive"),
    ("hot", "cold"),
    ("warm", "cold"),
    ("wet", "dry"),
    ("plus", "minus"),
    ("positive", "negative"),
    ("input", "output"),
    ("push", "pull"),
    ("send", "receive"),
    ("light", "dark"),
    ("inside", "outside"),
    ("above", "below"),
    ("over", "under"),
    ("internal", "external"),
    ("client", "server"),
    ("success", "failure"),
    ("pass", "fail"),
    ("in", "out"),
    ("login", "logout"),
    ("arrive", "depart"),
    ("arrival", "departure"),
    ("enter", "exit"),
    ("passive", "active"),
    ("tab", "space"),
    ("first", "last"),
    ("old", "new"),
    ("oldest", "newest"),
    ("earliest", "latest"),
    ("gain", "lose"),
    ("strong", "weak"),
    ("safe", "dangerous"),
    ("agree", "disagree"),
    ("like", "dislike"),
    ("love", "hate"),
    ("compress", "decompress"),
    ("merge", "split"),
    ("join", "leave"),
    ("horizontal", "vertical"),
    ("horizontally", "vertically"),
    ("uppercase", "lowercase"),
    ("upper", "lower"),
    # Comparisons: "is 5 greater than 3" is not "is 5 less than 3".
    ("more", "less"),
    ("more", "fewer"),
    ("greater", "less"),
    ("greater", "smaller"),
    ("higher", "lower"),
    ("larger", "smaller"),
    ("bigger", "smaller"),
    ("older", "younger"),
    ("faster", "slower"),
    ("better", "worse"),
    ("before", "after"),
    ("above", "below"),
    ("increase", "decrease"),
    ("maximum", "minimum"),
    ("max", "min"),
)

# Function words: left out of the word-order check (guard._order), so "is the sun older than the earth"
# and "is the sun older than earth" count as the same content words in the same order.
FUNCTION_WORDS = frozenset(
    _w(
        "a an the this that these those it its i me my mine you your yours we us our he him his she her "
        "they them their is are was were be been being am do does did can could would should will shall "
        "may might must have has had please kindly just really also some any there here"
    )
)

# Words a rewording swaps freely ("what is X" / "explain X", "with" / "using"): a swap between them is
# not another question (guard._swapped, which rejects one other word put in another's place).
REWORDED = frozenset(
    _w(
        "what explain describe tell show give define list make send "
        "create get do use using with via by for to in on at from of into about onto and or as than so "
        "if need want help"
    )
)

# Closed classes: the set of members used must be the same in both texts ("in Python" vs "in Rust").
CLASSES: dict[str, frozenset[str]] = {
    "programming language": frozenset(
        _w(
            "python rust java javascript js typescript ts golang c c++ c# csharp cpp ruby php kotlin "
            "swift scala haskell perl lua dart julia matlab sql bash shell powershell elixir erlang clojure "
            "fortran cobol zig ocaml f# solidity html css r"
        )
    ),
    "human language": frozenset(
        _w(
            "english spanish french german italian portuguese dutch russian chinese mandarin cantonese "
            "japanese korean arabic hindi bengali turkish polish swedish norwegian danish finnish greek "
            "hebrew thai vietnamese indonesian ukrainian czech hungarian romanian latin swahili persian urdu"
        )
    ),
    "format": frozenset(
        _w(
            "json csv xml yaml toml markdown table bullet numbered paragraph sentence pdf bar pie scatter "
            "histogram heatmap diagram"
        )
    ),
    "tone": frozenset(
        _w(
            "formal casual professional friendly playful serious humorous funny sarcastic polite rude "
            "persuasive neutral enthusiastic academic conversational poetic"
        )
    ),
    "depth": frozenset(_w("simple technical detailed brief short long concise verbose")),
    "form": frozenset(_w("rhyme verse prose")),
    "audience": frozenset(
        _w(
            "kid child children adult teen teenager toddler beginner intermediate advanced expert phd "
            "undergraduate professor scientist"
        )
    ),
    "kind of text": frozenset(
        _w(
            "haiku sonnet limerick poem essay story tweet post email letter memo speech blog article report "
            "song lyric script joke riddle slogan headline bio resume cv novel"
        )
    ),
    "diet": frozenset(_w("vegan vegetarian gluten keto paleo halal kosher dairy lactose")),
}

# Edition words that belong to the identifier they touch: "iphone 15 pro" is not "iphone 15", nor
# "gpt-4o mini" "gpt-4o", nor "macbook air" "macbook pro". Counted only next to a token with a digit or a
# name (an entity or a rare word; guard._ids), so "pro tips" or "a mini fridge" are plain words. Words
# that often follow a count ("2 home workouts") are left out.
VARIANTS = frozenset(
    _w(
        "pro max mini plus ultra lite air turbo nano se slim xl xs xr fe fold flip edge neo ti super oled "
        "server desktop lts beta alpha preview rc instruct opus sonnet haiku flash vision "
        "ii iii iv vi vii viii ix xi xii"
    )
)

# Synonyms folded before the class look-up, so a paraphrase that uses one of them still matches.
SYNONYMS: dict[str, str] = {
    "simply": "simple",
    "easy": "simple",
    "basic": "simple",
    "briefly": "brief",
    "formally": "formal",
    "informal": "casual",
    "casually": "casual",
    "kids": "kid",
    "rhyming": "rhyme",
    "rhymes": "rhyme",
    "lyrics": "lyric",
    "funnier": "funny",
}

NUMBER_WORDS: dict[str, str] = {
    **{
        w: str(i)
        for i, w in enumerate(
            _w(
                "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                "fifteen sixteen seventeen eighteen nineteen twenty"
            )
        )
    },
    **{w: str(10 * i) for i, w in enumerate(_w("thirty forty fifty sixty seventy eighty ninety"), 3)},
    "hundred": "100",
    "thousand": "1000",
    "million": "1000000",
    "billion": "1000000000",
    "dozen": "12",
    "once": "1",
    "twice": "2",
    "half": "0.5",
    **{
        w: str(i)
        for i, w in enumerate(_w("first second third fourth fifth sixth seventh eighth ninth tenth"), 1)
    },
}

DATE_WORDS = frozenset(
    _w(
        "january february march april june july august september october november december "
        "jan feb apr jun jul aug sep sept oct nov dec "
        "monday tuesday wednesday thursday friday saturday sunday "
        "today tonight tomorrow yesterday morning afternoon evening night noon midnight weekend weekday "
        "spring summer autumn winter christmas easter halloween thanksgiving valentine hanukkah ramadan "
        "diwali anniversary q1 q2 q3 q4"
    )
)
DATE_MODIFIERS = frozenset(_w("last next this previous coming past current following upcoming"))
PERIODS = frozenset(
    _w("day week weekend month year quarter season semester decade century night morning afternoon evening")
)

# Units and currencies, each mapped to one canonical name ("km" == "kilometers").
_UNIT_GROUPS: dict[str, str] = {
    "km": "km kilometer kilometre kilometers kilometres kph",
    "m": "m meter metre",
    "cm": "cm centimeter centimetre",
    "mm": "mm millimeter millimetre",
    "mile": "mile mi",
    "ft": "ft foot feet",
    "inch": "inch inches",
    "yard": "yard yd",
    "kg": "kg kilogram kilo",
    "g": "g gram gramme",
    "mg": "mg milligram",
    "ton": "ton tonne",
    "lb": "lb lbs",
    "oz": "oz ounce",
    "l": "liter litre",
    "ml": "ml milliliter millilitre",
    "gallon": "gallon",
    "quart": "quart",
    "pint": "pint",
    "cup": "cup",
    "tbsp": "tbsp tablespoon",
    "tsp": "tsp teaspoon",
    "celsius": "celsius",
    "fahrenheit": "fahrenheit",
    "kelvin": "kelvin",
    "second": "second sec",
    "minute": "minute min",
    "hour": "hour hr h hourly",
    "day": "day daily",
    "week": "week weekly",
    "month": "month monthly",
    "year": "year yr yearly annual annually",
    "ms": "ms millisecond",
    "byte": "byte",
    "kb": "kb kilobyte",
    "mb": "mb megabyte",
    "gb": "gb gigabyte",
    "tb": "tb terabyte",
    "mbps": "mbps",
    "kw": "kw kilowatt",
    "kwh": "kwh",
    "watt": "watt",
    "volt": "volt",
    "amp": "amp ampere",
    "calorie": "calorie kcal",
    "mph": "mph",
    "acre": "acre",
    "hectare": "hectare",
    "usd": "$ dollar usd",
    "eur": "€ euro eur",
    "pound": "£ pound gbp",
    "jpy": "¥ yen jpy",
    "percent": "% percent percentage",
}
UNITS: dict[str, str] = {w: unit for unit, ws in _UNIT_GROUPS.items() for w in ws.split()}

# Every word the lexicon knows: the guard strips -s/-ed/-ing only to reach one of these.
KNOWN = frozenset(
    set(UNITS)
    | set(DATE_WORDS)
    | set(PERIODS)
    | set(SYNONYMS)
    | set(NUMBER_WORDS)
    | {w for pair in OPPOSITES for w in pair}
    | {w for ws in CLASSES.values() for w in ws}
)
