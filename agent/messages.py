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
    # `sentinelle check`: the table's row labels and status words, and the detail sentences the
    # agent writes itself (an error text that comes from a device, a broker or a sink stays verbatim).
    "check_config": {"fr": "configuration", "en": "config"},
    "check_data_dir": {"fr": "dossier de données", "en": "data_dir"},
    "check_sink": {"fr": "destination {name}", "en": "sink {name}"},
    "check_device": {"fr": "équipement {name}", "en": "device {name}"},
    "check_mqtt": {"fr": "mqtt {name}", "en": "mqtt {name}"},
    "check_ok": {"fr": "ok", "en": "ok"},
    "check_fail": {"fr": "ÉCHEC", "en": "FAIL"},
    "snmp_error": {"fr": "{where} : {error}", "en": "{where}: {error}"},
    "snmp_no_oid": {"fr": "{where} : répond, mais sans sysObjectID", "en": "{where}: answers, but has no sysObjectID"},
    "snmp_ok": {"fr": "{where} : sysObjectID {oid}", "en": "{where}: sysObjectID {oid}"},
    "mqtt_timeout": {"fr": "{where} : pas de réponse en {seconds} s (adresse, port, pare-feu, TLS sur un port sans TLS ?)",
                     "en": "{where}: no answer within {seconds}s (address, port, firewall, TLS on a plain port?)"},
    "mqtt_error": {"fr": "{where} : {reason}", "en": "{where}: {reason}"},
    "mqtt_credentials": {"fr": "identifiants refusés ({text}) : vérifier username et password / password_file",
                         "en": "refused the credentials ({text}): check username and password / password_file"},
    "mqtt_conn_refused": {"fr": "connexion refusée ({text}) : rien n'écoute sur ce port, ou un pare-feu la rejette",
                          "en": "connection refused ({text}): nothing listens on this port, or a firewall rejects it"},
    "mqtt_tls": {"fr": "échec TLS ({text}) : vérifier tls.ca, le certificat du broker et le nom d'hôte",
                 "en": "TLS failed ({text}): check tls.ca, the broker's certificate and the host name"},
    "mqtt_sub_refused": {"fr": "{where} : connecté, mais le broker a refusé l'abonnement à {filters} (ACL ?)",
                         "en": "{where}: connected, but the broker refused the subscription to {filters} (ACL?)"},
    "mqtt_ok": {"fr": "{where} : connecté ({scheme}, {user}), abonné à {count} filtre(s)",
                "en": "{where}: connected ({scheme}, {user}), subscribed to {count} filter(s)"},
    "mqtt_tls_on": {"fr": "TLS", "en": "TLS"},
    "mqtt_tls_off": {"fr": "sans TLS", "en": "no TLS"},
    "mqtt_user": {"fr": "utilisateur {name}", "en": "user {name}"},
    "mqtt_anonymous": {"fr": "anonyme", "en": "anonymous"},
    # `sentinelle import`: the summary of one file, its detail lines, an intensity file, a manifest.
    "import_done": {"fr": "{path} ({format}, {kind}) : {readings} relevé(s), {intervals} intervalle(s), {kwh} kWh "
                          "({methods}), {points} point(s) écrit(s)",
                    "en": "{path} ({format}, {kind}): {readings} readings, {intervals} intervals, {kwh} kWh "
                          "({methods}), {points} points written"},
    "import_bad_skipped": {"fr": ", {count} ligne(s) en erreur ignorée(s)", "en": ", {count} bad lines skipped"},
    "import_none": {"fr": "aucun", "en": "none"},
    "import_live": {"fr": "  {hours} h déjà couvertes par les données en direct leur ont été laissées",
                    "en": "  {hours} h already covered by live data were left to it"},
    "import_ignored": {"fr": "  ignorées : {count} ligne(s) ({why})", "en": "  ignored: {count} rows ({why})"},
    "import_quality": {"fr": "  indicateurs de qualité : {flags}", "en": "  quality flags: {flags}"},
    "import_steps": {"fr": "  pas de temps : {steps}", "en": "  steps: {steps}"},
    "import_factor": {"fr": "  facteur BEGES {factor}", "en": "  BEGES factor {factor}"},
    "import_intensity": {"fr": "{path} ({layout}) : {count} point(s) grid_intensity écrit(s)",
                         "en": "{path} ({layout}): {count} grid_intensity points written"},
    "import_manifest": {"fr": "{manifest} : {done} fichier(s) importé(s) sur {rows} ({meters} compteur(s), {jobs} "
                              "processus) : {readings} relevé(s), {kwh} kWh, {points} point(s) écrit(s) en {seconds} s",
                        "en": "{manifest}: {done} of {rows} files imported ({meters} meters, {jobs} jobs): "
                              "{readings} readings, {kwh} kWh, {points} points written in {seconds} s"},
    "import_manifest_failed": {"fr": " ; {count} en échec (voir plus haut)", "en": "; {count} failed (see above)"},
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


def fixed(lang: str, value: float, decimals: int) -> str:
    """`1234.500` in English (as the command always printed it, for scripts), `1 234,500` in French."""
    return f"{value:.{decimals}f}" if lang == "en" else number(lang, value, decimals)
