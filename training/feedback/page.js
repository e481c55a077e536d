// The feedback page: one text at a time; every answer is POSTed with this run's token.
// Texts and labels are only ever put into the page with textContent (never parsed as HTML).
"use strict";

const token = document.querySelector('meta[name="feedback-token"]').content;
const tab = sessionStorage.getItem("feedback-tab") || newTabId();
sessionStorage.setItem("feedback-tab", tab);
const VERDICTS = { a: "accept", r: "reject", u: "unsure" };

let item = null; // {id, text, shown: [{label, score}], others: [...]}
let rows = []; // [{label, score, verdict, added}]
let focusIndex = 0;
let busy = false;

function newTabId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Feedback-Token": token },
    body: JSON.stringify(body),
  });
  let data = {};
  try {
    data = await response.json();
  } catch (error) {
    data = { error: `HTTP ${response.status}` };
  }
  return { status: response.status, data };
}

function showProgress(progress) {
  $("progress").textContent = `${progress.answered} / ${progress.total} answered`;
}

function render() {
  $("text").textContent = item.text;
  const list = $("labels");
  list.replaceChildren();
  rows.forEach((row, index) => {
    const li = document.createElement("li");
    li.className = [row.verdict, row.added ? "added" : "", index === focusIndex ? "focus" : ""].join(" ").trim();
    li.dataset.label = row.label;
    li.dataset.verdict = row.verdict;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = row.label;
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = row.score.toFixed(2);
    const buttons = document.createElement("span");
    buttons.className = "verdicts";
    for (const [key, verdict] of Object.entries(VERDICTS)) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = `${verdict} (${key})`;
      button.setAttribute("aria-pressed", String(row.verdict === verdict));
      button.addEventListener("click", (event) => {
        event.currentTarget.blur();
        focusIndex = index;
        judge(verdict, false);
      });
      buttons.append(button);
    }
    li.append(name, score, buttons);
    list.append(li);
  });
  const taken = new Set(rows.map((row) => row.label));
  const select = $("missed");
  select.replaceChildren();
  for (const other of item.others) {
    if (taken.has(other.label)) continue;
    const option = document.createElement("option");
    option.value = other.label;
    option.textContent = `${other.label} (${other.score.toFixed(2)})`;
    select.append(option);
  }
  $("missed-row").hidden = select.options.length === 0;
}

function judge(verdict, advance) {
  if (!rows.length) return;
  rows[focusIndex].verdict = verdict;
  if (advance && focusIndex < rows.length - 1) focusIndex += 1;
  render();
}

function move(step) {
  focusIndex = Math.min(Math.max(focusIndex + step, 0), rows.length - 1);
  render();
}

function addMissed() {
  const select = $("missed");
  const label = select.value;
  const other = item.others.find((entry) => entry.label === label);
  if (!other) return;
  rows.push({ label, score: other.score, verdict: "accept", added: true });
  focusIndex = rows.length - 1;
  select.blur();
  render();
}

async function loadNext() {
  const { status, data } = await api("/api/next", { tab });
  if (status !== 200) {
    $("status").textContent = `could not load the next text: ${data.error}`;
    return;
  }
  showProgress(data.progress);
  item = data.item;
  $("card").hidden = item === null;
  $("done").hidden = item !== null;
  if (item === null) return;
  rows = item.shown.map((entry) => ({ label: entry.label, score: entry.score, verdict: "unsure", added: false }));
  focusIndex = 0;
  if (item.held_elsewhere) $("status").textContent = "this text is also open in another tab";
  render();
}

async function submit(skip) {
  if (busy || item === null) return;
  busy = true;
  const verdicts = skip ? [] : rows;
  const body = {
    id: item.id,
    accepted: verdicts.filter((row) => row.verdict === "accept").map((row) => row.label),
    rejected: verdicts.filter((row) => row.verdict === "reject").map((row) => row.label),
  };
  try {
    const { status, data } = await api("/api/answer", body);
    if (status === 200 || status === 409) {
      $("status").textContent = status === 409 ? "that text was already answered in another tab; moved on" : "";
      await loadNext();
      if (data.rescore_error) $("status").textContent = `saved; re-scoring failed: ${data.rescore_error}`;
    } else {
      $("status").textContent = `not saved: ${data.error}`;
    }
  } catch (error) {
    $("status").textContent = `not saved (is the server running?): ${error}`;
  } finally {
    busy = false;
  }
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || item === null) return;
  if (event.target === $("missed")) {
    if (event.key === "Enter") addMissed();
    else if (event.key === "Escape") $("missed").blur();
    else return;
    event.preventDefault();
    return;
  }
  const key = event.key.toLowerCase();
  if (key in VERDICTS) judge(VERDICTS[key], true);
  else if (key === "arrowdown" || key === "j") move(1);
  else if (key === "arrowup" || key === "k") move(-1);
  else if (key === "m" && !$("missed-row").hidden) $("missed").focus();
  else if (key === "enter") submit(false);
  else if (key === "s") submit(true);
  else return;
  event.preventDefault();
});

$("save").addEventListener("click", () => submit(false));
$("skip").addEventListener("click", () => submit(true));
$("add").addEventListener("click", addMissed);
loadNext();
