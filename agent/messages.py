"""The command line's own sentences in French (default) and English.

One catalogue keyed by a message id, so a summary is printed in one language: `--lang`, else
`agent.lang` in the file, else French. Reports and the demo have their own wording (carbon/report,
agent/demo) and take the same setting.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["fr", "en"]
LANGS: tuple[Lang, ...] = ("fr", "en")

_MESSAGES: dict[str, dict[Lang, str]] = {
    "config_error": {"fr": "erreur de configuration dans {path} :", "en": "configuration error in {path}:"},
    "config_ok": {"fr": "{sites} site(s), {devices} équipement(s), {brokers} broker(s) MQTT, {sinks} destination(s)",
                  "en": "{sites} site(s), {devices} device(s), {brokers} MQTT broker(s), {sinks} sink(s)"},
    "data_dir": {"fr": "{path} (spool et stockage local)", "en": "{path} (spool and local store)"},
    "data_dir_denied": {"fr": "{path} n'est pas accessible en écriture pour cet utilisateur (lancer en root, ou "
                              "régler agent.data_dir)",
                        "en": "{path} is not writable by this user (run as root, or set agent.data_dir)"},
    "no_spool": {"fr": "pas de spool dans {path} (l'agent n'a pas encore tourné avec cette configuration)",
                 "en": "no spool at {path} (the agent has not run with this configuration yet)"},
    "unknown_sink": {"fr": "destination {name!r} inconnue : celles de cette configuration sont {names}",
                     "en": "unknown sink {name!r}: this configuration's sinks are {names}"},
    "replay_needs_sink": {"fr": "spool replay demande --sink NOM (les lettres mortes sont gardées par destination)",
                          "en": "spool replay needs --sink NAME (dead letters are kept per sink)"},
    "replayed": {"fr": "{count} point(s) mis de côté remis en file pour la destination {sink}",
                 "en": "{count} dead-lettered point(s) queued again for sink {sink}"},
    "stopping": {"fr": "arrêt demandé ({signal}) : fin de la collecte, envoi de ce qui reste (Ctrl-C encore pour "
                       "arrêter tout de suite)",
                 "en": "stopping ({signal}): collection ends, sending what is left (Ctrl-C again to stop at once)"},
    "stop_now": {"fr": "second signal : arrêt immédiat (le spool garde ce qui a été collecté)",
                 "en": "second signal: stopping at once (the spool keeps what was collected)"},
    "left_in_spool": {"fr": "arrêté : {count} point(s) restent dans le spool {path} pour le prochain démarrage",
                      "en": "stopped: {count} point(s) stay in the spool {path} for the next start"},
    "unexpected": {"fr": "erreur inattendue : {error} (relancer avec -v pour le détail)",
                   "en": "unexpected error: {error} (run again with -v for details)"},
    "spool_size": {"fr": "spool {path} : {size} sur {cap} au plus, {points} point(s), {dropped} perdu(s) faute de place",
                   "en": "spool {path}: {size} of at most {cap}, {points} point(s), {dropped} dropped for lack of room"},
    "spool_sink": {"fr": "  destination {sink} : {pending} point(s) en attente (le plus ancien : {oldest}), "
                         "{dead} mis de côté (lettres mortes)",
                   "en": "  sink {sink}: {pending} point(s) pending (oldest: {oldest}), {dead} dead-lettered"},
    "report_summary": {
        "fr": "{label} : {kwh} kWh, {beges} tCO2e BEGES (± {u} %), {grid} tCO2e réseau, complétude {completeness} %",
        "en": "{label}: {kwh} kWh, {beges} tCO2e BEGES (± {u} %), {grid} tCO2e grid, completeness {completeness} %",
    },
}


def say(lang: str, key: str, **values: object) -> str:
    """The message `key` in `lang` (French for an unknown language), with `values` filled in."""
    texts = _MESSAGES[key]
    return texts.get(lang if lang in LANGS else "fr", texts["fr"]).format(**values)  # type: ignore[call-overload]


def number(lang: str, value: float, decimals: int) -> str:
    """`1 234,5` in French (narrow no-break space, decimal comma), `1,234.5` in English."""
    text = f"{value:,.{decimals}f}"
    if lang == "en":
        return text
    return text.replace(",", "\u202f").replace(".", ",")
