// Citizen upload page: sends the chosen photo to the public API and explains any refusal in French, then
// follows the photo's processing (GET /api/v1/shoreline/photos/{id}) and says what came of it.
"use strict";

const MESSAGES = {
  not_an_image: "Ce fichier n'est pas une photo (JPEG ou PNG attendu).",
  too_large: "La photo est trop lourde.",
  duplicate: "Cette photo a déjà été envoyée. Merci !",
  too_small: "La photo est trop petite : utilisez l'appareil photo du téléphone sans la réduire.",
  too_dark: "La photo est trop sombre (de nuit ?) : le rivage n'y est pas visible.",
  blurred: "La photo est floue : tenez le téléphone immobile dans le support.",
  orientation: "Tenez le téléphone dans le même sens que le support (paysage).",
  quality: "La photo n'est pas utilisable.",
  rate_limited: "Trop d'envois depuis cet appareil : réessayez dans quelques minutes.",
  not_found: "Cette station n'existe pas ou plus.",
};

// Why processing set a photo aside (`reason_code` of a `flagged` photo).
const FLAG_MESSAGES = {
  too_small: MESSAGES.too_small,
  too_dark: MESSAGES.too_dark,
  blurred: MESSAGES.blurred,
  orientation: MESSAGES.orientation,
  no_water_level: "Le niveau de la mer à l'heure de la photo est inconnu (heure de prise de vue manquante ?).",
  water_level_datum: "Le niveau de la mer enregistré pour cette heure est incohérent ; l'équipe va le vérifier.",
  registration: "La photo ne correspond pas à la vue de la station (autre lieu, ou téléphone hors du support ?).",
  framing: "Le cadrage diffère trop de celui du support : posez le téléphone dans le support, sans zoomer.",
  camera_pose: "Les repères de la station n'ont pas été retrouvés assez précisément sur la photo.",
  no_shoreline: "Le rivage n'est pas visible sur la photo (brume, contre-jour ?).",
  other: "La photo n'a pas pu être utilisée.",
};
const POLL_MS = 3000;
const POLL_LIMIT = 60; // about 3 minutes; after that the page stops asking (processing may be queued)

const form = document.getElementById("upload-form");
const input = document.getElementById("photo");
const message = document.getElementById("message");
const send = document.getElementById("send");
const outcome = document.getElementById("outcome");
let followed = 0; // the upload being followed; a new choice or upload stops following the previous one

function show(text, kind) {
  message.textContent = text;
  message.className = kind;
}

function showOutcome(text, kind) {
  outcome.textContent = text;
  outcome.className = kind;
}

function describe(photo) {
  switch (photo.status) {
    case "processed":
      return ["Photo analysée : le trait de côte a été extrait. Merci !", "ok"];
    case "flagged": {
      const text = FLAG_MESSAGES[photo.reason_code] || FLAG_MESSAGES.other;
      const detail = photo.reason ? ` Détail technique : ${photo.reason}` : "";
      return [`Photo écartée. ${text}${detail}`, "flagged"];
    }
    case "failed":
      return ["L'analyse n'a pas pu être faite pour l'instant ; elle sera relancée.", "waiting"];
    default:
      return ["Analyse en cours…", "waiting"];
  }
}

async function follow(photoId, token) {
  for (let i = 0; i < POLL_LIMIT && token === followed; i += 1) {
    try {
      const response = await fetch(`/api/v1/shoreline/photos/${photoId}`);
      if (response.ok) {
        const photo = await response.json();
        if (token !== followed) return;
        const [text, kind] = describe(photo);
        showOutcome(text, kind);
        if (!["pending", "accepted"].includes(photo.status)) return;
      }
    } catch (error) {
      // The connection dropped: try again at the next tick.
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

input.addEventListener("change", () => {
  const file = input.files[0];
  document.getElementById("file-name").textContent = file ? file.name : "Aucune photo choisie.";
  followed += 1;
  show("", "");
  showOutcome("", "");
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = input.files[0];
  if (!file) {
    show("Choisissez d'abord une photo.", "error");
    return;
  }
  const maxBytes = Number(form.dataset.maxMb) * 1024 * 1024;
  if (file.size > maxBytes) {
    show(MESSAGES.too_large, "error");
    return;
  }
  const body = new FormData();
  body.append("photo", file, file.name);
  // A camera capture has no EXIF on some phones: the file's time is the capture time.
  if (file.lastModified) body.append("taken_at", new Date(file.lastModified).toISOString());
  send.disabled = true;
  followed += 1;
  const token = followed;
  show("Envoi en cours…", "");
  showOutcome("", "");
  try {
    const response = await fetch(form.dataset.uploadUrl, { method: "POST", body });
    const payload = await response.json().catch(() => ({}));
    if (response.ok) {
      show("Photo reçue, merci ! Elle sera analysée dans quelques minutes.", "ok");
      form.reset();
      document.getElementById("file-name").textContent = "Aucune photo choisie.";
      if (payload.id !== undefined) {
        showOutcome("Analyse en cours…", "waiting");
        follow(payload.id, token);
      }
    } else {
      const text = MESSAGES[payload.error] || "La photo a été refusée.";
      show(`${text} (${payload.detail || response.status})`, "error");
    }
  } catch (error) {
    show("Envoi impossible : vérifiez la connexion et réessayez.", "error");
  } finally {
    send.disabled = false;
  }
});
