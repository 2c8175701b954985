"""The motif catalogue in the app: feedback under each answer, a Catalogue tab and a Curator tab.

Visitors (anyone with the link) may only *suggest*: "Right" / "Wrong, it is ..." / "Save to
catalogue" store the picture on screen as a suggested capture. Only a curator signed in with the
password confirms, rejects, relabels or deletes suggestions and edits the motif texts, so nothing
a stranger sends reaches the answers unchecked. A public link also brings rate limits and size
limits on suggestions and sign-ins (`sasirangan.limits`), held in one `Curation` per app.

As in `sasirangan.app`, the handlers are plain functions that tests call directly: they take the
`Curation` and the session's curator state (a `gr.State`: None, or {"name": ...} after sign-in)
and check it themselves, so the page never decides who may curate. The `*_section` functions lay
out the components and wire events to them; `app.build_app` calls them. This module uses the
page's rendering helpers, so `app` imports it only inside `build_app` (no import cycle).
"""

from __future__ import annotations

import hmac
import html
import io
import logging
from dataclasses import dataclass, field

import gradio as gr
import numpy as np
from PIL import Image

from .app import NOT_A_MOTIF, NOT_SURE, _info, _row_entry, _user_message, catalogue_motifs, motif_text_lines
from .catalogue import Catalogue, CatalogueError, slugify
from .data import load_image
from .limits import (MAX_SUGGESTION_BYTES, MAX_SUGGESTION_PIXELS, SIGN_INS_PER_MINUTE, LimitExceeded,
                     RateLimiter)
from .verdict import MOTIF, NOT_MOTIF

RIGHT, WRONG, SAVE = "right", "wrong", "save"  # the three feedback buttons
ANONYMOUS = "anonymous"  # who a suggestion is from when no curator is signed in
PENDING_SHOWN = 100  # newest suggestions listed for review
GALLERY_PHOTOS = 60  # confirmed photos shown per motif in the Catalogue tab
PASSWORD_ENV = "SASIRANGAN_CURATOR_PASSWORD"
CURATING_OFF = (f"Curating is off: start the app with `--curator-password` (or set {PASSWORD_ENV}) "
                "to review suggestions and edit the motif texts.")
NOT_SIGNED_IN = "Sign in as a curator first (Curator tab)."

log = logging.getLogger(__name__)


@dataclass
class Curation:
    """The catalogue side of the app, shared by its handlers (one per app, for all sessions).

    Args:
        catalogue: where suggestions go and where motif texts come from.
        password: curators sign in with it; None or "" turns curating off.
        suggestions: rate limits on anonymous suggestions, per client and overall.
        sign_ins: rate limit on sign-in attempts, per client address.
        max_bytes: largest suggested file, in bytes (`limits.MAX_SUGGESTION_BYTES`).
        max_pixels: largest suggested picture, in pixels (`limits.MAX_SUGGESTION_PIXELS`).
    """

    catalogue: Catalogue
    password: str | None = None
    suggestions: RateLimiter = field(default_factory=RateLimiter)
    sign_ins: RateLimiter = field(default_factory=lambda: RateLimiter(
        per_client=[(SIGN_INS_PER_MINUTE, 60)], overall=[], what="sign-in attempts"))
    max_bytes: int = MAX_SUGGESTION_BYTES
    max_pixels: int = MAX_SUGGESTION_PIXELS

    @property
    def curating(self) -> bool:
        return bool(self.password)


def _client(request, with_session: bool = True) -> str:
    """Who is asking, for rate limits: the client's address, and its page session."""
    host = getattr(getattr(request, "client", None), "host", None) or "unknown"
    return f"{host} {getattr(request, 'session_hash', None) or '-'}" if with_session else host


def motif_choices(catalogue: Catalogue) -> list[tuple[str, str]]:
    """(name, slug) of every motif in the catalogue, by name: the choices of the motif dropdowns."""
    return sorted(((motif.name, motif.slug) for motif in catalogue.motifs()), key=lambda choice: choice[0].lower())


# --------------------------------------------------------------------------- suggestions


def suggest(curation: Curation, shown: dict | None, kind: str, motif: str | None = None, curator: dict | None = None,
            request=None) -> tuple[str, gr.Dropdown]:
    """Feedback handler: store the picture on screen as a *suggested* capture for a curator to review.

    Args:
        curation: the app's `Curation`.
        shown: the answer on screen (`app.shown_answer`; the `gr.State` the answer handlers fill).
        kind: `RIGHT` (it shows the motif the app named), `WRONG` (it shows `motif`, not the
            answer) or `SAVE` (it shows `motif`).
        motif: a motif slug or name from the "It is ..." dropdown; a new name creates the motif.
        curator: the session's curator state: a signed-in curator's suggestions carry their
            name and are not rate-limited.
        request: the `gr.Request` (client address and page session, for the rate limits).

    Returns:
        (message, the motif dropdown with its choices updated: a new motif joins them).

    Raises:
        gr.Error: no picture yet, no motif chosen, a limit reached, or the picture cannot be
            stored. Nothing is stored then.
    """
    if curation is None:
        raise gr.Error("This app has no catalogue to save pictures to.", print_exception=False)
    if not shown or shown.get("picture") is None:
        raise gr.Error("There is no picture yet: upload a photo or start the camera first.", print_exception=False)
    named = shown.get("named")
    if kind == RIGHT:
        if not named:
            raise gr.Error("The app named no motif for this picture. Pick the motif under 'It is …' "
                           "(or type its name) and press 'Save to catalogue'.", print_exception=False)
        motif = named
    elif kind in (WRONG, SAVE):
        motif = " ".join((motif or "").split())
        if not motif:
            raise gr.Error("Pick the motif under 'It is …', or type its name, first.", print_exception=False)
        if kind == WRONG and named and slugify(motif) == named:
            raise gr.Error("That is the motif the app named: press 'Right' instead.", print_exception=False)
    else:
        raise ValueError(f"kind must be {RIGHT!r}, {WRONG!r} or {SAVE!r}. Received: kind={kind!r}.")
    signed_in = isinstance(curator, dict) and bool(curator.get("name")) and curation.curating
    if not signed_in:  # a picture refused below still counts: repeated bad uploads are limited too
        try:
            curation.suggestions.acquire(_client(request))
        except LimitExceeded as error:
            raise gr.Error(error.message, print_exception=False) from None
    picture = shown["picture"]
    note = {RIGHT: "the user says the answer was right", WRONG: "the user says the answer was wrong", SAVE: ""}[kind]
    if note and shown.get("from_catalogue"):
        note += " (it was named from confirmed catalogue photos)"
    try:
        if isinstance(picture, np.ndarray):
            picture = load_image(picture)  # webcam frames may come as RGBA or 16-bit; the catalogue takes RGB
        capture = curation.catalogue.add_photo(
            picture, motif, source=shown.get("source", "upload"), by=curator["name"] if signed_in else ANONYMOUS,
            model_answer=shown.get("answer"), note=note, max_bytes=curation.max_bytes, max_pixels=curation.max_pixels)
    except ValueError as error:  # CatalogueError, ImageError
        raise gr.Error(_user_message(error, shown["picture"] if isinstance(shown["picture"], str) else None),
                       print_exception=False) from None
    stored = curation.catalogue.motif(capture.motif)
    name = html.escape(stored.name if stored else capture.motif)
    if capture.status == "confirmed":
        message = f"This picture is already in the catalogue as {name}."
    elif capture.status == "rejected":
        message = f"A curator has already looked at this picture and did not take it as {name}."
    else:
        message = f"Saved as a suggestion for {name}; a curator will review it."
    gr.Info(message)
    return message, gr.Dropdown(choices=motif_choices(curation.catalogue))


# --------------------------------------------------------------------------- curating


def _curator_name(curation: Curation | None, curator) -> str:
    """The signed-in curator of this session, or a gr.Error: every curating handler calls this first."""
    if curation is None or not curation.curating:
        raise gr.Error(CURATING_OFF, print_exception=False)
    name = curator.get("name") if isinstance(curator, dict) else None
    if not name:
        raise gr.Error(NOT_SIGNED_IN, print_exception=False)
    return name


def sign_in(curation: Curation | None, name: str, password: str, request=None) -> tuple:
    """Curator sign-in: (the session's new curator state, a message, the cleared password box,
    the sign-in form hidden, the curating panel shown).

    The password is compared in constant time, and attempts are rate-limited per client address.
    The state lives on the server (`gr.State`), so a page cannot claim to be signed in.

    Raises:
        gr.Error: curating is off, the password is wrong, or too many attempts.
    """
    if curation is None or not curation.curating:
        raise gr.Error(CURATING_OFF, print_exception=False)
    try:
        curation.sign_ins.acquire(_client(request, with_session=False))
    except LimitExceeded as error:
        raise gr.Error(error.message, print_exception=False) from None
    if not hmac.compare_digest((password or "").encode("utf-8"), curation.password.encode("utf-8")):
        raise gr.Error("Wrong password.", print_exception=False)
    who = " ".join((name or "").split())[:60] or "curator"
    log.info("curator %r signed in from %s", who, _client(request, with_session=False))
    return {"name": who}, f"Signed in as **{html.escape(who)}**.", "", gr.Column(visible=False), gr.Column(visible=True)


def sign_out() -> tuple:
    """(no curator, a message, the sign-in form shown, the curating panel hidden)."""
    return None, "Signed out.", gr.Column(visible=True), gr.Column(visible=False)


def review_queue(curation: Curation | None, curator, selected=None) -> tuple:
    """The suggestions waiting for review: (the queue dropdown, the chosen one's photo, its
    details, the relabel dropdown's motif choices). `selected` is kept if still pending,
    else the newest suggestion is shown.

    Raises:
        gr.Error: no curator is signed in in this session.
    """
    _curator_name(curation, curator)
    catalogue = curation.catalogue
    pending = catalogue.captures(status="suggested", limit=PENDING_SHOWN)
    choices = motif_choices(catalogue)
    names = {slug: name for name, slug in choices}
    queue = [(f"#{c.id} · {names.get(c.motif, c.motif)} · {c.submitted_by}, {c.submitted_at:%Y-%m-%d %H:%M}", c.id)
             for c in pending]
    chosen = next((c for c in pending if str(c.id) == str(selected)), pending[0] if pending else None)
    relabel = gr.Dropdown(choices=choices)
    if chosen is None:
        return gr.Dropdown(choices=[], value=None), None, "No suggestions are waiting for review.", relabel
    return (gr.Dropdown(choices=queue, value=chosen.id), Image.open(io.BytesIO(catalogue.photo_bytes(chosen.sha256))),
            capture_details(chosen, names), relabel)


SOURCE_WORDS = {"webcam": "the live camera", "upload": "an upload", "import": "an import"}


def capture_details(capture, names: dict) -> str:
    """Markdown: the suggested motif, the app's answer when the picture was taken, who and when."""
    motif = html.escape(names.get(capture.motif, capture.motif))
    lines = [f"**#{capture.id} · suggested as {motif}** (`{capture.motif}`)  "]
    if capture.model_verdict is not None:
        answered = (names.get(capture.model_label, capture.model_label) if capture.model_verdict == MOTIF
                    else NOT_A_MOTIF if capture.model_verdict == NOT_MOTIF else NOT_SURE)
        confidence = "" if capture.model_confidence is None else f", {capture.model_confidence:.0%}"
        lines.append(f"The app answered: {html.escape(str(answered))} ({capture.model_verdict}{confidence}; "
                     f"model `{capture.model_name}`)  ")
    lines.append(f"From {html.escape(capture.submitted_by)}, by {SOURCE_WORDS.get(capture.source, capture.source)}, "
                 f"{capture.submitted_at:%Y-%m-%d %H:%M} UTC  ")
    if capture.note:
        lines.append(f"Note: {html.escape(capture.note)}")
    return "\n".join(lines)


CURATE_ACTIONS = ("confirm", "reject", "relabel", "delete")


def curate(predictor, curation: Curation | None, curator, capture_id, action: str, motif: str | None = None) -> tuple:
    """Confirm, reject, relabel (to `motif`, existing or new) or delete a capture, then show the next one.

    The predictor's catalogue references are refreshed at once, so the next answer already
    uses (or no longer uses) the photo.

    Returns:
        (message, *review_queue(...)).

    Raises:
        gr.Error: no curator is signed in in this session, no suggestion chosen, or the
            catalogue refused (e.g. an empty motif name). Nothing changes then.
    """
    who = _curator_name(curation, curator)
    if action not in CURATE_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(CURATE_ACTIONS)}. Received: action={action!r}.")
    try:
        capture_id = int(capture_id)
    except (TypeError, ValueError):
        raise gr.Error("Pick a suggestion first.", print_exception=False) from None
    catalogue = curation.catalogue
    try:
        if action == "confirm":
            capture = catalogue.confirm(capture_id, by=who)
        elif action == "reject":
            capture = catalogue.reject(capture_id, by=who)
        elif action == "relabel":
            if not (motif or "").strip():
                raise gr.Error("Pick or type the motif to relabel it to.", print_exception=False)
            capture = catalogue.relabel(capture_id, motif, by=who)
        else:
            catalogue.delete(capture_id, by=who)
            capture = None
    except CatalogueError as error:
        raise gr.Error(_user_message(error), print_exception=False) from None
    _refresh_references(predictor)
    name = html.escape(catalogue.motif(capture.motif).name) if capture is not None else ""
    message = {"confirm": f"Confirmed #{capture_id} as {name}.", "reject": f"Rejected #{capture_id}.",
               "relabel": f"Moved #{capture_id} to {name}.", "delete": f"Deleted #{capture_id}."}[action]
    gr.Info(message)
    return (message, *review_queue(curation, curator))


def _refresh_references(predictor) -> None:
    """Let the predictor see a confirmation at once (it also notices within a second by itself)."""
    if getattr(predictor, "catalogue", None) is not None:
        predictor.refresh_references()


def motif_form(curation: Curation | None, curator, slug: str | None = None) -> tuple:
    """The motif-text editor's fields for `slug` (the first motif if None): (the motif dropdown,
    name, literal id, literal en, meaning id, meaning en, sources one a line).

    Raises:
        gr.Error: no curator is signed in in this session.
    """
    _curator_name(curation, curator)
    choices = motif_choices(curation.catalogue)
    motif = curation.catalogue.motif(slug) if slug else None
    if motif is None and choices:
        motif = curation.catalogue.motif(choices[0][1])
    if motif is None:
        return gr.Dropdown(choices=choices, value=None), "", "", "", "", "", ""
    return (gr.Dropdown(choices=choices, value=motif.slug), motif.name, motif.literal.get("id", ""),
            motif.literal.get("en", ""), motif.meaning.get("id", ""), motif.meaning.get("en", ""),
            "\n".join(motif.sources))


def save_motif(curation: Curation | None, curator, slug: str, name: str, literal_id: str, literal_en: str,
               meaning_id: str, meaning_en: str, sources: str) -> tuple[str, gr.Dropdown]:
    """Store a motif's texts (its slug stays); answer cards show them from the next answer.

    Returns:
        (message, the motif dropdown with the new name).

    Raises:
        gr.Error: no curator is signed in in this session, no motif chosen, or a text the
            catalogue refuses (an empty name, a source that is not an http(s) URL).
    """
    who = _curator_name(curation, curator)
    if not slug:
        raise gr.Error("Pick the motif to edit first.", print_exception=False)
    try:
        motif = curation.catalogue.update_motif(
            slug, by=who, name=name or "", literal={"id": literal_id or "", "en": literal_en or ""},
            meaning={"id": meaning_id or "", "en": meaning_en or ""}, sources=(sources or "").split())
    except CatalogueError as error:
        raise gr.Error(_user_message(error), print_exception=False) from None
    catalogue_motifs(curation.catalogue, refresh=True)
    message = f"Saved the texts of {html.escape(motif.name)}."
    gr.Info(message)
    return message, gr.Dropdown(choices=motif_choices(curation.catalogue), value=motif.slug)


# --------------------------------------------------------------------------- browsing


def browse_catalogue(catalogue: Catalogue, slug: str | None = None) -> tuple[gr.Dropdown, str, list]:
    """The Catalogue tab for one motif (if `slug` is None or gone: the one with the most confirmed
    photos, so the tab opens on photos): (the motif dropdown with confirmed-photo counts, the
    motif's card, its confirmed photos for a gr.Gallery)."""
    counts = catalogue.counts()
    confirmed_count = {motif: counts.get(motif, {}).get("confirmed", 0) for _, motif in motif_choices(catalogue)}
    choices = [(f"{name} ({confirmed_count[motif]})", motif) for name, motif in motif_choices(catalogue)]
    if not any(motif == slug for _, motif in choices):
        slug = max(confirmed_count, key=confirmed_count.get) if choices else None  # first of the best, by name
    if slug is None:
        return gr.Dropdown(choices=[], value=None), "The catalogue has no motifs yet.", []
    motif = catalogue.motif(slug)
    info = _info(slug, _row_entry(motif))
    confirmed = catalogue.captures(status="confirmed", motif=slug, limit=GALLERY_PHOTOS)
    total = counts.get(slug, {}).get("confirmed", 0)
    photos = "no confirmed photos yet" if not total else f"{total} confirmed photo{'s' if total != 1 else ''}"
    card = "\n".join([f"### {html.escape(motif.name)}", f"*{photos}*", "", *motif_text_lines(info)])
    gallery = [(Image.open(io.BytesIO(catalogue.photo_bytes(capture.sha256))), f"#{capture.id}")
               for capture in confirmed]
    return gr.Dropdown(choices=choices, value=slug), card, gallery


# --------------------------------------------------------------------------- layout


def feedback_section(curation: Curation, shown: gr.State, curator: gr.State, demo: gr.Blocks) -> None:
    """"Right" / "Wrong, it is ..." / "Save to catalogue" under the answer."""
    gr.Markdown("**Bantu katalog / Help the catalogue:** was the answer right? Your picture is saved as a "
                "suggestion; a curator checks it before it is used.")
    with gr.Row(equal_height=True, elem_id="feedback"):
        right = gr.Button("Right", elem_id="right", min_width=100)
        motif = gr.Dropdown(choices=motif_choices(curation.catalogue), value=None, allow_custom_value=True,
                            label="It is …", info="pick a motif, or type a new motif's name", elem_id="motif_choice",
                            min_width=200)
        wrong = gr.Button("Wrong, it is this motif", elem_id="wrong", min_width=100)
        save = gr.Button("Save to catalogue", elem_id="save", variant="primary", min_width=100)
    status = gr.Markdown(elem_id="feedback_status")

    def feedback(kind):
        def handler(picture, chosen, who, request: gr.Request):
            return suggest(curation, picture, kind, chosen, who, request)
        return handler

    for button, kind in ((right, RIGHT), (wrong, WRONG), (save, SAVE)):
        button.click(feedback(kind), inputs=[shown, motif, curator], outputs=[status, motif], api_visibility="private")

    # Motifs added by other visitors since the app started join the choices when the page opens.
    demo.load(lambda: gr.Dropdown(choices=motif_choices(curation.catalogue)), outputs=motif, api_visibility="private")


def catalogue_section(catalogue: Catalogue, tab: gr.Tab) -> None:
    """Each motif's card and confirmed photos, read when the tab is opened (for teaching and museums)."""
    gr.Markdown("Motif Sasirangan dengan arti dan foto yang sudah dikonfirmasi kurator.  \n"
                "Sasirangan motifs with their meanings and the photos curators confirmed.")
    motif = gr.Dropdown(label="Motif (confirmed photos)", choices=[], value=None, elem_id="browse_motif")
    with gr.Row(equal_height=False):
        with gr.Column(min_width=280):
            card = gr.Markdown(elem_id="motif_card")
        with gr.Column(min_width=280, scale=2):
            gallery = gr.Gallery(label="Confirmed photos", columns=4, fit_columns=False, object_fit="cover",
                                 preview=False, height="auto", elem_id="motif_gallery")

    def on_browse(slug):
        return browse_catalogue(catalogue, slug)

    tab.select(on_browse, inputs=motif, outputs=[motif, card, gallery], api_visibility="private")
    motif.input(on_browse, inputs=motif, outputs=[motif, card, gallery], api_visibility="private")


def curator_section(predictor, curation: Curation, curator: gr.State) -> None:
    """Sign-in, then the suggestions to review and the motif texts to edit (CURATING_OFF without a password)."""
    if not curation.curating:
        gr.Markdown(CURATING_OFF, elem_id="curator_status")
        return
    with gr.Column(elem_id="sign_in") as sign_in_box:
        name = gr.Textbox(label="Your name", info="recorded with your decisions", elem_id="curator_name")
        password = gr.Textbox(label="Curator password", type="password", elem_id="curator_password")
        sign_in_button = gr.Button("Sign in", variant="primary", elem_id="sign_in_button")
    status = gr.Markdown(elem_id="curator_status")
    with gr.Column(visible=False, elem_id="curating") as panel:
        gr.Markdown("### Suggestions to review")
        queue = gr.Dropdown(label="Suggestion", choices=[], value=None, elem_id="queue")
        with gr.Row(equal_height=False):
            photo = gr.Image(label="Photo", type="pil", interactive=False, height=320, elem_id="review_photo")
            details = gr.Markdown(elem_id="review_details")
        with gr.Row():
            confirm = gr.Button("Confirm", variant="primary", elem_id="confirm")
            reject = gr.Button("Reject", elem_id="reject")
            delete = gr.Button("Delete", variant="stop", elem_id="delete")
        with gr.Row(equal_height=True):
            relabel_to = gr.Dropdown(label="Relabel to", choices=[], value=None, allow_custom_value=True,
                                     info="an existing motif, or type a new motif's name", elem_id="relabel_to")
            relabel = gr.Button("Relabel", elem_id="relabel")
        gr.Markdown("### Motif texts")
        motif = gr.Dropdown(label="Motif", choices=[], value=None, elem_id="edit_motif")
        motif_name = gr.Textbox(label="Name")
        with gr.Row():
            literal_id = gr.Textbox(label="Arti nama (Bahasa Indonesia)")
            literal_en = gr.Textbox(label="Name means (English)")
        with gr.Row():
            meaning_id = gr.Textbox(label="Makna (Bahasa Indonesia)", lines=3)
            meaning_en = gr.Textbox(label="Meaning (English)", lines=3)
        sources = gr.Textbox(label="Sources: one https:// address a line", lines=3)
        save_texts = gr.Button("Save motif texts", elem_id="save_motif")
        sign_out_button = gr.Button("Sign out", size="sm", elem_id="sign_out")

    review_outputs = [queue, photo, details, relabel_to]
    form_outputs = [motif, motif_name, literal_id, literal_en, meaning_id, meaning_en, sources]
    private = {"api_visibility": "private"}  # the page's own controls, not an API

    def on_sign_in(who, given, request: gr.Request):
        return sign_in(curation, who, given, request)

    def on_queue(state, selected):
        return review_queue(curation, state, selected)

    def on_form(state, slug):
        return motif_form(curation, state, slug)

    def on_save(state, slug, *texts):
        return save_motif(curation, state, slug, *texts)

    def action(kind):
        def handler(state, capture_id, new_motif):
            return curate(predictor, curation, state, capture_id, kind, new_motif)
        return handler

    for trigger in (sign_in_button.click, password.submit):
        (trigger(on_sign_in, [name, password], [curator, status, password, sign_in_box, panel], **private)
         .success(on_queue, [curator, queue], review_outputs, **private)
         .success(on_form, [curator, motif], form_outputs, **private))
    queue.input(on_queue, [curator, queue], review_outputs, **private)
    for button, kind in ((confirm, "confirm"), (reject, "reject"), (relabel, "relabel"), (delete, "delete")):
        button.click(action(kind), [curator, queue, relabel_to], [status, *review_outputs], **private)
    motif.input(on_form, [curator, motif], form_outputs, **private)
    save_texts.click(on_save, [curator, *form_outputs], [status, motif], **private)
    sign_out_button.click(sign_out, outputs=[curator, status, sign_in_box, panel], **private)
