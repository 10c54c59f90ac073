// Citizen upload page: sends the chosen photo to the public API and explains any refusal in French.
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

const form = document.getElementById("upload-form");
const input = document.getElementById("photo");
const message = document.getElementById("message");
const send = document.getElementById("send");

function show(text, kind) {
  message.textContent = text;
  message.className = kind;
}

input.addEventListener("change", () => {
  const file = input.files[0];
  document.getElementById("file-name").textContent = file ? file.name : "Aucune photo choisie.";
  show("", "");
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
  show("Envoi en cours…", "");
  try {
    const response = await fetch(form.dataset.uploadUrl, { method: "POST", body });
    const payload = await response.json().catch(() => ({}));
    if (response.ok) {
      show("Photo reçue, merci ! Elle sera analysée dans quelques minutes.", "ok");
      form.reset();
      document.getElementById("file-name").textContent = "Aucune photo choisie.";
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
