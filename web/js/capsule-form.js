// The replay page's capsule form: start and end from the player's position, a chapter of the
// manifest (a lecturer's marker or a question is a chapter with its own kind, once the hub
// writes them) or a re-watched minute; title, subject, grade, knowledge point and tags; saved
// with POST /api/capsules, which answers once the clip is cut.
import { ApiError, el, formatDuration, showError } from "./api.js";

const $ = (id) => document.getElementById(id);
// Chapter kinds a capsule's source may name (CapsuleIn.source); any other chapter is "chapter".
const SOURCES = new Set(["marker", "question"]);

export class CapsuleForm {
  constructor(api, t, video) {
    this.api = api;
    this.t = t;
    this.video = video;
    this.rec = null;
    this.choices = null;
    this.chapters = [];
    this.source = { source: "player", source_label: "" };
    $("cap-start-now").addEventListener("click", () => this.fromPlayer("cap-start"));
    $("cap-end-now").addEventListener("click", () => this.fromPlayer("cap-end"));
    $("cap-chapter").addEventListener("change", () => this.fromChapter());
    for (const id of ["cap-start", "cap-end"]) {
      $(id).addEventListener("input", () => {
        this.source = { source: "player", source_label: "" };
        $("cap-chapter").value = "";
      });
    }
    $("capsule-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.save();
    });
  }

  /** A ready recording opened in the player (its manifest's chapters, when read). */
  open(rec, manifest) {
    this.rec = rec;
    $("capsule-card").hidden = false;
    $("capsule-form").reset();
    this.loadChoices();
    $("cap-status").textContent = "";
    showError($("cap-error"), null);
    this.source = { source: "player", source_label: "" };
    this.setChapters(manifest?.chapters || [], manifest?.duration_s || rec.duration_s);
    this.loadList();
  }

  /** The county's subjects and grades not retired (GET /api/subjects, /api/grades): a capsule
   * picks from them, or leaves the choice blank and has the lesson's own. */
  async loadChoices() {
    if (!this.choices) {
      this.choices = Promise.all([
        this.api.get("/api/subjects", { retired: false }),
        this.api.get("/api/grades", { retired: false }),
      ]).catch((error) => {
        this.choices = null;
        throw error;
      });
    }
    try {
      const [subjects, grades] = await this.choices;
      for (const [id, items] of [["cap-subject", subjects], ["cap-grade", grades]]) {
        const select = $(id);
        select.replaceChildren(
          select.options[0],
          ...items.map((x) => el("option", { value: String(x.id), text: x.name })),
        );
        select.value = "";
      }
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) showError($("cap-error"), error, this.t);
    }
  }

  close() {
    this.rec = null;
    $("capsule-card").hidden = true;
  }

  setChapters(chapters, duration) {
    this.chapters = chapters.map((c, i) => ({
      ...c,
      end_s: c.end_s ?? (chapters[i + 1] ? chapters[i + 1].start_s : duration),
    }));
    $("cap-chapter").replaceChildren(
      el("option", { value: "", text: this.t("capsule.noChapter") }),
      ...this.chapters.map((c, i) =>
        el("option", {
          value: i,
          text: `${formatDuration(c.start_s)}–${formatDuration(c.end_s)} ${c.title}`,
        }),
      ),
    );
  }

  fromPlayer(id) {
    $(id).value = (Math.round(this.video.currentTime * 10) / 10).toFixed(1);
    this.source = { source: "player", source_label: "" };
    $("cap-chapter").value = "";
  }

  fromChapter() {
    const c = this.chapters[Number($("cap-chapter").value)];
    if ($("cap-chapter").value === "" || !c) return;
    this.setEnds(c.start_s, c.end_s, SOURCES.has(c.kind) ? c.kind : "chapter", c.title);
    $("cap-chapter").value = String(this.chapters.indexOf(c));
    if (!$("cap-title").value) $("cap-title").value = c.title;
  }

  /** Used by the re-watched minutes too. */
  setEnds(start, end, source = "player", label = "") {
    $("cap-start").value = Number(start).toFixed(1);
    $("cap-end").value = Number(end).toFixed(1);
    this.source = { source, source_label: label };
    $("cap-chapter").value = "";
    $("cap-title").focus();
  }

  async save() {
    if (!this.rec) return;
    const start = Number($("cap-start").value);
    const end = Number($("cap-end").value);
    showError($("cap-error"), null);
    const title = $("cap-title").value.trim();
    if ($("cap-start").value === "" || $("cap-end").value === "" || !(end > start)) {
      showError($("cap-error"), new Error(this.t("capsule.badEnds")));
      return;
    }
    if (!title) {
      showError($("cap-error"), new Error(this.t("capsule.noTitle")));
      $("cap-title").focus();
      return;
    }
    const tags = $("cap-tags")
      .value.split(/[,，、]/)
      .map((x) => x.trim())
      .filter(Boolean);
    const body = {
      recording_id: this.rec.id,
      start_s: start,
      end_s: end,
      title,
      // Blank: the lesson's own (the hub fills it in).
      ...($("cap-subject").value ? { subject_id: Number($("cap-subject").value) } : {}),
      ...($("cap-grade").value ? { grade_id: Number($("cap-grade").value) } : {}),
      knowledge_point: $("cap-point").value.trim(),
      tags,
      snap: $("cap-snap").checked,
      ...this.source,
    };
    $("cap-save").disabled = true;
    $("cap-status").textContent = this.t("capsule.cutting");
    try {
      const made = await this.api.post("/api/capsules", body);
      $("cap-status").textContent = this.t(made.reencoded ? "capsule.savedExact" : "capsule.savedCopy", {
        name: made.title,
        from: formatDuration(made.start_s),
        length: formatDuration(made.duration_s),
      });
      await this.loadList();
    } catch (error) {
      $("cap-status").textContent = "";
      if (error instanceof ApiError && error.status === 401) return;
      showError($("cap-error"), error, this.t, "capsule.failed");
    } finally {
      $("cap-save").disabled = false;
    }
  }

  async loadList() {
    const rec = this.rec;
    if (!rec) return;
    try {
      const page = await this.api.get("/api/capsules", { recording_id: rec.id, limit: 50 });
      if (this.rec?.id !== rec.id) return;
      $("cap-list").replaceChildren(
        ...page.items.map((c) =>
          el(
            "li",
            { dataset: { id: c.id } },
            el("a", { href: `/capsules#capsule=${c.id}`, text: c.title }),
            ` · ${formatDuration(c.start_s)}–${formatDuration(c.end_s)}`,
          ),
        ),
      );
      $("cap-none").hidden = page.items.length > 0;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      showError($("cap-error"), error, this.t, "capsule.listFailed");
    }
  }
}
