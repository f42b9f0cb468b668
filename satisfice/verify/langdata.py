"""Data for the tiny language detector: stopwords per Latin-script language, the names people use for
languages (to notice "answer in Spanish"), translation cues and script ranges. Data only."""

from __future__ import annotations

# Frequent function words. Words listed for two languages are dropped from both when compiled
# (`lang.py`), so only distinctive words vote.
STOPWORDS: dict[str, str] = {
    "en": "the and is s over are was were of to that this with for you it what which have has not be "
    "how from can will would there their they your by or does if but we my these those about into "
    "should could who why when where been being its our than then them only also any some just "
    "very he she his her him had more most other such because while after before through each "
    "many much well here now out up get make like need want know use",
    "de": "der die das und ist nicht ein eine einen einem dem den mit sich auf für sie wir ich auch wie "
    "oder aber wenn noch nur werden wird sind kann können bitte mir mich dass zu bei nach vom zum "
    "zur über diese dieser dieses welche warum wo gibt hat haben sehr schon mein meine ihr ihre "
    "kein keine als also was um doch jetzt dort immer nichts etwas viel mehr durch gegen ohne "
    "unter zwischen weil damit dann denn ob sollte muss möchte einer eines ihm ihn uns euch habe "
    "bin bist seid",
    "fr": "le la un il son se ma dit les et est une du des que qui pas ne pour dans sur avec ce cette "
    "ces je vous nous elle sont mais ou où au aux être avoir fait comment pourquoi quel quelle "
    "très plus leur peut mon c qu j n d l s y tout tous aussi bien ont était lui dont donc alors "
    "comme même encore toujours rien chez sans sous parce depuis avant après déjà beaucoup peu "
    "trop suis êtes sommes ai avez pouvez faire notre votre vos cela ça ici combien faut",
    "es": "el la los las y es un una de que en por para con no se del al lo como más pero sus le ya "
    "este esta están está son ser hay muy también qué cómo cuál dónde porque puede tiene yo usted "
    "sobre entre cuando todo hace eso estos estas fue si nos te o cuánto cuánta cuántos uno ahora "
    "aquí así desde hasta sin otro otra cada mismo donde ese esa esto ella ellos había han hemos "
    "sea puedo quiero tengo hacer mejor algo nada pues entonces después",
    "it": "il lo la gli le e è di che un una per non con sono della delle dei degli nel nella anche più "
    "questo questa perché cosa quale essere ha hanno molto ma io tu noi voi sul alla dal dalla ci "
    "si mi ti quando dove sempre l ne o quello quella ancora dopo prima tutto tutti fare fatto "
    "può posso voglio c ho hai abbiamo nostro vostro loro",
    "pt": "o os as e é um uma de do da dos das que em no na nos nas para com não por mais como mas ao "
    "ele ela são está isso este esta você vocês também muito pelo pela qual porque quando onde "
    "tem ser foi há seu sua eu se isto aqui agora ainda já só sem depois até outro outra nós eles "
    "elas meu minha pode posso quero tenho fazer",
    "nl": "de het een en van is dat die niet op te met voor zijn er maar om ook als bij dan nog wat "
    "wordt worden naar kan uit dit deze hoe waarom welke ik je jij wij we u hebben heeft zo geen "
    "meer moet door over zou wel dus toch daar nu altijd veel mijn jouw onze hun zij hij ze mij "
    "kunnen moeten willen gaat doen meestal",
}

# Names of each language in en/de/fr/es/it/pt/nl and natively: a prompt naming the answer's language
# asked for it ("reply in French", "auf Englisch").
NAMES: dict[str, tuple[str, ...]] = {
    "en": ("english", "englisch", "anglais", "inglés", "ingles", "inglese", "inglês", "engels"),
    "de": ("german", "deutsch", "allemand", "alemán", "aleman", "tedesco", "alemão", "duits"),
    "fr": (
        "french",
        "französisch",
        "français",
        "francais",
        "francés",
        "frances",
        "francese",
        "francês",
        "frans",
    ),
    "es": ("spanish", "spanisch", "espagnol", "español", "espanol", "spagnolo", "espanhol", "spaans"),
    "it": ("italian", "italienisch", "italien", "italiano", "italiaans"),
    "pt": ("portuguese", "portugiesisch", "portugais", "portugués", "portoghese", "português", "portugees"),
    "nl": ("dutch", "niederländisch", "néerlandais", "neerlandés", "olandese", "holandês", "nederlands"),
    "zh": (
        "chinese",
        "chinesisch",
        "chinois",
        "chino",
        "cinese",
        "chinês",
        "chinees",
        "mandarin",
        "中文",
        "汉语",
        "漢語",
        "普通话",
    ),
    "ja": ("japanese", "japanisch", "japonais", "japonés", "giapponese", "japonês", "japans", "日本語"),
    "ko": ("korean", "koreanisch", "coréen", "coreano", "koreaans", "한국어"),
    "cyrillic": (
        "russian",
        "russisch",
        "russe",
        "ruso",
        "russo",
        "ukrainian",
        "ukrainisch",
        "bulgarian",
        "serbian",
        "русск",
        "украин",
        "cyrillic",
    ),
    "arabic": ("arabic", "arabisch", "arabe", "árabe", "arabo", "persian", "farsi", "urdu", "عرب", "فارسی"),
    "greek": ("greek", "griechisch", "grec", "griego", "greco", "grego", "ελληνικ"),
    "hebrew": ("hebrew", "hebräisch", "hébreu", "hebreo", "ebraico", "עברית"),
    "devanagari": ("hindi", "marathi", "nepali", "sanskrit", "हिन्दी", "हिंदी"),
    "thai": ("thai", "thailändisch", "thaï", "tailandés", "tailandese", "ไทย"),
}

# A request to translate (or write in another language): the answer's language is expected to differ.
TRANSLATE = (
    r"translat|übersetz|tradu[isz]|vertaal|перев[оеи]д|翻[译譯訳]|訳して|번역|ترجم|"
    r"\b(?:in|into|auf|en|na|em|naar|nach)\s+(?:\w+\s+)?(?:"
    + "|".join(n for v in NAMES.values() for n in v)
    + r")"
)

# Script ranges; Latin is the default for letters outside these.
SCRIPTS: dict[str, str] = {
    "kana": "\u3040-\u30ff\u31f0-\u31ff",
    "han": "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff",
    "hangul": "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f",
    "cyrillic": "\u0400-\u052f",
    "arabic": "\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff",
    "hebrew": "\u0590-\u05ff",
    "greek": "\u0370-\u03ff",
    "devanagari": "\u0900-\u097f",
    "thai": "\u0e00-\u0e7f",
}
