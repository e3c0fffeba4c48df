# ruff: noqa: RUF001  (look-alike characters are what this code is about)
"""The prompt-injection rules: name, weight and pattern, and each rule's cheap gate.

Data only; :mod:`custom_hooks.guardrails.detectors.injection` scores text with them. Weights combine as a
noisy-or, so a rule of weight >= 0.8 blocks alone at the default threshold and weaker
ones only together.
"""

from __future__ import annotations

import re

__all__ = ["GATES", "RULES"]

_F = re.IGNORECASE

_OBJECT = (
    r"(?:instructions?|prompts?|rules|directions|guidelines|directives|guidance|programming|policies"
    r"|constraints|restrictions|commands|orders|training|safety\s+\w+|system\s+\w+)"
)
_VERB = (
    r"(?:ignore|disregard|forget|override|bypass|skip|drop|discard|abandon|neglect|set\s+aside"
    r"|stop\s+following|do\s+not\s+follow|don'?t\s+follow|cancel|throw\s+out|erase)"
)
_EARLIER = r"(?:previous|prior|above|earlier|preceding|original|system|initial|all|your|those|these|any|old)"

RULES: tuple[tuple[str, float, re.Pattern[str]], ...] = (
    (
        "override_instructions",
        0.9,
        re.compile(
            rf"\b{_VERB}\b(?:\s+[\w']+){{0,3}}?\s+{_EARLIER}\s+(?:[\w']+\s+){{0,2}}?{_OBJECT}\b",
            _F,
        ),
    ),
    (
        "forget_everything",
        0.9,
        re.compile(
            r"\b(?:ignore|disregard|forget|set\s+aside|erase)\s+(?:everything|all|anything|what)\s+(?:that\s+)?"
            r"(?:you\s+(?:were|have\s+been|'ve\s+been)\s+(?:told|instructed|given|taught|programmed)"
            r"|(?:you\s+know\s+)?(?:above|before|so\s+far))",
            _F,
        ),
    ),
    (
        "override_instructions_intl",
        0.9,
        re.compile(
            # de
            r"\b(?:ignorier\w*|vergiss|vergessen\s+sie|missachte\w*|übergeh\w*)\b(?:\s+\w+){0,3}?\s+"
            r"(?:anweisungen|instruktionen|regeln|befehle|vorgaben|richtlinien|systemanweisungen)"
            r"|\bvergiss\s+alles,?\s+was\s+(?:dir|man\s+dir|du)"
            # fr
            r"|(?<!n')\b(?:ignore[rz]?|oublie[rz]?|néglige[rz]?)\b(?!\s+pas\b)(?:\s+[\w']+){0,3}?\s+"
            r"(?:instructions|consignes|règles|directives)\b"
            # es / it / pt
            r"|\b(?:ignora\w*|olvida\w*|omite|descarta\w*|dimentica\w*|trascura\w*|ignore|esque[çc]a\w*"
            r"|desconsidere\w*|despreze\w*)\b(?:\s+[\w']+){0,3}?\s+"
            r"(?:instrucciones|reglas|indicaciones|directrices|órdenes|istruzioni|regole|direttive"
            r"|instruções|instrucoes|regras|diretrizes|orientações)\b"
            # nl / pl
            r"|\b(?:negeer|vergeet|zignoruj|ignoruj|zapomnij|pomiń)\w*\b(?:\s+\w+){0,4}?\s+"
            r"(?:instructies|regels|aanwijzingen|opdrachten|instrukcj\w*|polece\w*|zasad\w*|regu\w*|wytyczn\w*)"
            # ru
            r"|(?:игнорируй\w*|проигнорируй\w*|забудь\w*|не\s+обращай\w*\s+внимания\s+на)(?:\s+\w+){0,3}?\s+"
            r"(?:инструкци\w*|указани\w*|правил\w*|команд\w*|промпт\w*)"
            # zh / ja
            r"|(?:忽略|无视|忽视|不要理会|忘记|忘掉|無視)[^。！？\n]{0,12}?(?:指令|指示|规则|提示|命令|设定|要求|ルール)"
            r"|(?:指示|命令|ルール|規則|設定|プロンプト)[^。\n]{0,12}?(?:無視|忘れ)",
            _F,
        ),
    ),
    (
        "override_above",
        0.6,
        re.compile(
            rf"\b{_VERB}\s+(?:all\s+(?:of\s+)?|everything\s+)?(?:the\s+)?(?:above|previous|prior|preceding|foregoing)"
            r"(?:\s+(?:text|content|input|message))?\s*(?:[.,;:!]|and\b|$)",
            _F,
        ),
    ),
    (
        "instead",
        0.5,
        re.compile(r"\b(?:and|then)\s+instead\b|\binstead\s*,?\s+(?:you\s+)?(?:must|will|should)\b", _F),
    ),
    (
        "reveal_system_prompt",
        0.85,
        re.compile(
            r"\b(?:reveal|print|show|repeat|output|display|leak|dump|expose|share|list|write\s+out|tell\s+me"
            r"|give\s+me|what\s+(?:are|were|is))\b(?:\s+[\w']+){0,5}?\s+(?:system\s+prompt|(?:your|the)\s+"
            r"(?:(?:initial|original|hidden|secret|exact|full|system)\s+)?(?:prompt|instructions|configuration"
            r"|rules|guidelines|programming)\b|initial\s+(?:prompt|instructions)|hidden\s+(?:prompt|instructions"
            r"|configuration)|developer\s+(?:message|instructions)|instructions\s+you\s+were\s+given"
            r"|(?:the\s+)?text\s+above|everything\s+above|(?:your\s+)?context\s+window)",
            _F,
        ),
    ),
    (
        "system_prompt_word",
        0.5,
        re.compile(
            r"system\s*prompt|systemanweisung|prompt\s+(?:du\s+|de\s+)?système|prompt\s+del\s+sistema"
            r"|prompt\s+di\s+sistema|prompt\s+d[eo]\s+sistema|systeemprompt|prompt\s+systemow\w*"
            r"|системн\w+\s+промпт\w*|系统提示|システムプロンプト|verbatim|word\s+for\s+word",
            _F,
        ),
    ),
    (
        "jailbreak_mode",
        0.8,
        re.compile(
            r"\b(?:enable|enter|activate|switch\s+to|turn\s+on|you\s+are\s+(?:now\s+)?in)\s+"
            r"(?:developer|dan|jailbreak|god|unrestricted|unfiltered|debug|evil)\s+mode\b"
            r"|\bdo\s+anything\s+now\b"
            r"|\byou\s+are\s+(?:now\s+)?(?:dan|stan|dude|aim|freegpt|evilbot|an?\s+(?:unrestricted|unfiltered"
            r"|uncensored|jailbroken|evil)\s+(?:ai|model|assistant|chatbot))\b"
            r"|\byou\s+are\s+no\s+longer\s+(?:chatgpt|claude|gemini|an?\s+ai|bound|restricted|an?\s+assistant)\b",
            _F,
        ),
    ),
    (
        "unrestricted_persona",
        0.8,
        re.compile(
            r"\b(?:pretend|act|behave|roleplay|role-play|answer|respond|reply)\b(?:\s+[\w']+){0,6}?\s+"
            r"(?:no|without|free\s+of|any|zero)\s+(?:\w+\s+)?(?:restrictions|rules|limits|limitations|filters"
            r"|guidelines|censorship|ethics|content\s+polic(?:y|ies))\b"
            r"|\bfrom\s+(?:now\s+on|this\s+moment|here\s+on)\s*,?\s+you\s+(?:are|will|have|must)\b"
            r"|\b(?:you\s+)?(?:have|with)\s+(?:no|zero)\s+(?:restrictions|rules|limits|limitations|filters"
            r"|guidelines|content\s+policy)\b"
            r"|\b(?:ohne|sem|sin|senza|bez|без)\s+(?:einschränkungen|restrições|restricciones|limiti|ograniczeń"
            r"|ограничений)|没有限制|制限なし",
            _F,
        ),
    ),
    (
        "roleplay_jailbreak",
        0.85,
        re.compile(
            r"\b(?:role-?play|pretend|imagine|act\s+as|you\s+are\s+my)\b.{0,240}?\b(?:never\s+refuse|stay\s+in"
            r"\s+character|don'?t\s+break\s+character|without\s+(?:any\s+)?(?:warnings|refusals))",
            _F | re.S,
        ),
    ),
    (
        "never_refuse",
        0.5,
        re.compile(r"\bnever\s+refuse\b|\bstay\s+in\s+character\b|\bwithout\s+question\b", _F),
    ),
    ("jailbreak_word", 0.3, re.compile(r"\bjailbr(?:eak|oken)\b", _F)),
    (
        "you_are_now",
        0.4,
        re.compile(r"\byou\s+are\s+now\b|\bnow\s+you\s+are\b|\byou\s+are\s+no\s+longer\b", _F),
    ),
    (
        "new_instructions",
        0.6,
        re.compile(
            r"\b(?:new|updated|revised|real|actual)\s+(?:instructions|rules|task|directive)s?\s*:"
            r"|\byour\s+(?:new|real|actual|only)\s+(?:task|instructions?|role|goal|purpose)\s+(?:is|are)\b",
            _F,
        ),
    ),
    (
        "fake_role_marker",
        0.6,
        re.compile(
            r"<\|im_start\|>|<\|system\|>|\[/?INST\]|<<SYS>>|^\s*#{1,3}\s*system\s*:?\s*$"
            r"|^\s*(?:system|developer)(?:\s+prompt)?\s*:\s",
            _F | re.M,
        ),
    ),
    (
        "addressed_to_ai",
        0.4,
        re.compile(
            r"\b(?:note|message|instructions?|important)\s+(?:to|for)\s+(?:the\s+|any\s+)?(?:ai|assistant|llm|model"
            r"|agent|bot|chatbot)s?\b|\b(?:dear|hey|hi|attention|attn)\s+(?:the\s+)?(?:ai|assistant|llm|chatbot"
            r"|ai\s+model|language\s+model|ai\s+agent|agent)s?\b|\b(?:ai|llm)\s+(?:assistant|agent|model)s?"
            r"(?:\s+reading\s+this)?\s*:|(?:^|[>\"'\[(])\s*assistant\s*[:,]|\b(?:ai\s+agents?|llms?|language"
            r"\s+models?|ai\s+models?)\s+reading\s+this",
            _F | re.M,
        ),
    ),
    (
        "hijack_task",
        0.6,
        re.compile(
            r"\bignore\s+the\s+user(?:'s)?\b|\b(?:instead\s+of|rather\s+than)\s+(?:answering|helping)\s+the\s+user",
            _F,
        ),
    ),
    (
        "conceal_from_user",
        0.5,
        re.compile(
            r"\b(?:do\s+not|don'?t|never)\s+(?:tell|inform|mention\s+(?:this\s+)?to|reveal\s+(?:this\s+)?to)\s+the\s+user\b",
            _F,
        ),
    ),
    (
        "exfiltrate",
        0.5,
        re.compile(
            r"\b(?:send|post|upload|forward|email|leak|transmit)\b(?:\s+[\w']+){0,4}?\s+(?:api\s+keys?|credentials"
            r"|passwords?|secrets|tokens?|conversation|chat\s+history|inbox|emails|messages|data)\s+to\b",
            _F,
        ),
    ),
    (
        "exfiltrate_to_address",
        0.7,
        re.compile(
            r"\b(?:send|post|upload|forward|email|leak|transmit)\b(?:\s+[\w']+){0,4}?\s+(?:api\s+keys?|credentials"
            r"|passwords?|secrets|tokens?|conversation|chat\s+history|inbox)\s+to\s+(?:https?://|\S+@\S+\.)",
            _F,
        ),
    ),
    (
        "disable_safety",
        0.7,
        re.compile(
            r"\b(?:ignore|disregard|bypass|disable|override|turn\s+off|deactivate)\s+(?:your\s+|all\s+|the\s+|any\s+)?"
            r"(?:safety|content\s+(?:policy|filters?)|guardrails|filters|censorship|ethical\s+guidelines)\b",
            _F,
        ),
    ),
    ("shell_payload", 0.5, re.compile(r"\b(?:curl|wget)\s+\S+\s*\|\s*(?:ba|z)?sh\b", _F)),
)

_VERBS = (
    "ignor",
    "disregard",
    "forget",
    "overrid",
    "bypass",
    "skip",
    "drop",
    "discard",
    "abandon",
    "neglect",
    "aside",
    "stop",
    "do",
    "don",
    "cancel",
    "throw",
    "erase",
)
# Cheap gate per rule, checked before its regex runs: word prefixes (looked up in the
# sorted words of the text), and "="-marked substrings for scripts without spaces and for
# markers. A rule's regex cannot match unless one entry of each group occurs. With two
# groups, a match starts at an entry of the first (the verb), so the regex is run only
# from there.
GATES: dict[str, tuple[tuple[str, ...], ...]] = {
    "override_instructions": (
        _VERBS,
        (
            "instruct", "prompt", "rule", "direction", "guideline", "directive", "guidance", "programming",
            "polic", "constraint", "restriction", "command", "order", "training", "safety", "system",
        ),
    ),
    "forget_everything": (("ignor", "disregard", "forget", "aside", "erase"),),
    "override_instructions_intl": ((
        "ignor", "vergiss", "vergessen", "missacht", "überg", "oubli", "néglig", "olvid", "omite", "descart",
        "dimentic", "trascur", "esque", "descons", "desprez", "negeer", "vergeet", "zignoruj", "zapomnij",
        "pomiń", "игнор", "проигнор", "забуд", "обращ", "=忽略", "=无视", "=忽视", "=理会", "=忘", "=無視",
    ),),
    "override_above": (("above", "previous", "prior", "preceding", "foregoing"),),
    "instead": (("instead",),),
    "reveal_system_prompt": (
        (
            "reveal", "print", "show", "repeat", "output", "display", "leak", "dump", "expose", "share",
            "list", "write", "tell", "give", "what",
        ),
        (
            "prompt", "instruct", "configuration", "rule", "guideline", "programming", "above",
            "context",
        ),
    ),
    "system_prompt_word": ((
        "system", "prompt", "systemanweisung", "systeemprompt", "промпт", "verbatim", "word",
        "=系统提示", "=システムプロンプト",
    ),),
    "jailbreak_mode": ((
        "mode", "anything", "dan", "stan", "dude", "aim", "freegpt", "evilbot", "unrestrict", "unfilter",
        "uncensor", "jailbr", "evil", "longer",
    ),),
    "unrestricted_persona": ((
        "restriction", "rule", "limit", "filter", "guideline", "censor", "ethic", "polic", "now", "moment",
        "here", "einschränk", "restri", "limiti", "ograni", "огранич", "=没有限制", "=制限なし",
    ),),
    "roleplay_jailbreak": (("refuse", "character", "warning", "refusal"),),
    "never_refuse": (("refuse", "character", "question"),),
    "jailbreak_word": (("jailbr",),),
    "you_are_now": (("now", "longer"),),
    "new_instructions": (
        ("new", "updated", "revised", "real", "actual", "your"),
        ("instruct", "rule", "task", "directive", "role", "goal", "purpose"),
    ),
    "fake_role_marker": (("system", "developer", "=<|", "=inst]", "=<<sys"),),
    "addressed_to_ai": (("ai", "assistant", "llm", "model", "agent", "bot", "chatbot"),),
    "hijack_task": (("user",),),
    "conceal_from_user": (("user",),),
    "exfiltrate": (
        ("send", "post", "upload", "forward", "email", "leak", "transmit"),
        (
            "api", "key", "credential", "password", "secret", "token", "conversation", "chat", "history",
            "inbox", "email", "message", "data",
        ),
    ),
    "exfiltrate_to_address": (
        ("send", "post", "upload", "forward", "email", "leak", "transmit"),
        (
            "api", "key", "credential", "password", "secret", "token", "conversation", "chat", "history",
            "inbox",
        ),
    ),
    "disable_safety": (
        ("ignor", "disregard", "bypass", "disabl", "overrid", "turn", "deactivat"),
        ("safety", "content", "guardrail", "filter", "censorship", "ethical"),
    ),
    "shell_payload": (("curl", "wget"),),
}  # fmt: skip
