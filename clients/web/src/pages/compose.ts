/** `/admin/send/`: compose a notification to one user, a role or everyone (`POST /api/notifications/`). */
import type { Notification } from "clarion-client";
import { apiRequest, HttpError, sessionRequest } from "../api.js";
import { notice, type Page } from "../context.js";
import { fill, h } from "../dom.js";
import { deliveriesHref } from "../notifications.js";

interface DirectoryUser {
  id: number;
  username: string;
  role: string | null;
}

const TYPES = ["info", "success", "warning", "error"] as const;

function field(id: string, label: string, control: HTMLElement, hint?: string): HTMLElement {
  const error = h("p", { className: "field-error", id: `${id}-error` });
  control.setAttribute("aria-describedby", hint ? `${id}-hint ${id}-error` : `${id}-error`);
  return h("div", { className: "field", "data-field": id }, h("label", { for: id }, label), hint ? h("p", { className: "hint", id: `${id}-hint` }, hint) : null, control, error);
}

export const composePage: Page = async (ctx) => {
  const { me, main } = ctx;
  ctx.setTitle("Send a notification");
  if (!me.can_send) {
    fill(main, h("h1", null, "Send a notification"), notice("Only administrators may send notifications."));
    return;
  }

  const radio = (value: string, text: string, checked = false) =>
    h("label", { className: "choice" }, h("input", { type: "radio", name: "recipient_type", value, checked }), text);
  const user = h("select", { id: "recipient-user", name: "user" }, h("option", { value: "" }, "Loading users…"));
  const role = h("select", { id: "recipient-role", name: "role" }, me.roles.map((r) => h("option", { value: r }, r)));
  const title = h("input", { id: "title", name: "title", required: true, maxlength: 200, autocomplete: "off" });
  const message = h("textarea", { id: "body", name: "message", rows: 3, maxlength: 5000 });
  const type = h("select", { id: "type", name: "notification_type" }, TYPES.map((t) => h("option", { value: t }, t)));
  const link = h("input", { id: "link", name: "link", maxlength: 500, placeholder: "/projects/1/ or https://…", autocomplete: "off", title: "A path on this site or an http(s) address" });
  const submit = h("button", { type: "submit", className: "primary" }, "Send notification");
  const result = h("p", { className: "result", id: "send-result", role: "status" });
  const deliveries = h("a", { id: "send-deliveries", hidden: true }, "See who received it");
  const userField = field("recipient-user", "User", user);
  const roleField = field("recipient-role", "Role", role);
  const sent = h("ul", { className: "plain sent", "aria-labelledby": "sent-heading" });
  const sentSection = h("section", { className: "sent-section", "aria-labelledby": "sent-heading", hidden: true }, h("h2", { id: "sent-heading" }, "Sent from this page"), sent);

  const form = h(
    "form",
    { className: "card compose", "aria-labelledby": "compose-heading", novalidate: false },
    h("fieldset", { className: "choices" }, h("legend", null, "Send to"), radio("user", "One user"), radio("role", "A role", true), radio("all", "Everyone")),
    userField,
    roleField,
    field("title", "Title", title),
    field("body", "Message (optional)", message),
    h("div", { className: "field-row" }, field("type", "Type", type), field("link", "Link (optional)", link)),
    h("div", { className: "actions" }, submit, result, deliveries),
  );
  fill(main, h("h1", { id: "compose-heading" }, "Send a notification"), h("div", { className: "compose-layout" }, form, sentSection));

  const recipientType = () => (form.querySelector<HTMLInputElement>("input[name=recipient_type]:checked")?.value ?? "role") as "user" | "role" | "all";
  const showRecipient = () => {
    userField.hidden = recipientType() !== "user";
    roleField.hidden = recipientType() !== "role";
  };
  form.addEventListener("change", showRecipient);
  showRecipient();

  const clearErrors = () => {
    form.querySelectorAll(".field-error").forEach((el) => (el.textContent = ""));
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  };
  const showErrors = (body: unknown): boolean => {
    if (!body || typeof body !== "object") return false;
    const controls: Record<string, HTMLElement> = {
      title,
      message,
      notification_type: type,
      link,
      recipient_id: recipientType() === "user" ? user : role,
      recipient_type: role,
    };
    let first: HTMLElement | null = null;
    for (const [name, messages] of Object.entries(body as Record<string, unknown>)) {
      const control = controls[name];
      if (!control) continue;
      const text = Array.isArray(messages) ? messages.map(String).join(" ") : String(messages);
      const error = document.getElementById(`${control.id}-error`);
      if (error) error.textContent = text;
      control.setAttribute("aria-invalid", "true");
      first ??= control;
    }
    first?.focus();
    return first !== null;
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    result.textContent = "";
    deliveries.hidden = true;
    const kind = recipientType();
    const recipientId = kind === "user" ? user.value : kind === "role" ? role.value : "";
    if (kind === "user" && !recipientId) {
      showErrors({ recipient_id: ["Choose a user."] });
      return;
    }
    submit.disabled = true;
    try {
      const created = await apiRequest<Notification>("POST", "/api/notifications/", {
        recipient_type: kind,
        recipient_id: recipientId,
        title: title.value,
        message: message.value,
        notification_type: type.value,
        link: link.value.trim(),
      });
      const to = kind === "all" ? "everyone" : kind === "role" ? `every ${recipientId}` : user.selectedOptions[0]?.textContent ?? `user ${recipientId}`;
      result.textContent = `Sent “${created.title}” to ${to}.`;
      // Beside the status, not in it: the announcement stays the sentence alone.
      deliveries.href = deliveriesHref(created.id);
      deliveries.setAttribute("aria-label", `See who received “${created.title}”`);
      deliveries.hidden = false;
      sentSection.hidden = false;
      sent.prepend(h("li", null, h("strong", null, created.title), ` to ${to}, ${new Date(created.created_at).toLocaleTimeString()} · `,
        h("a", { href: deliveriesHref(created.id), "aria-label": `Deliveries: ${created.title}` }, "Deliveries")));
      title.value = "";
      message.value = "";
      link.value = "";
    } catch (error) {
      if (!(error instanceof HttpError && error.status === 400 && showErrors(error.body))) {
        result.textContent = `Not sent: ${error instanceof HttpError ? error.message : "the server cannot be reached."}`;
      }
    } finally {
      submit.disabled = false;
    }
  });

  try {
    const { results } = await sessionRequest<{ results: DirectoryUser[] }>("GET", "/ui/users/");
    fill(
      user,
      h("option", { value: "" }, "Choose a user"),
      results.map((u) => h("option", { value: u.id }, u.role ? `${u.username} (${u.role})` : u.username)),
    );
  } catch (error) {
    fill(user, h("option", { value: "" }, "Users could not be loaded"));
    result.textContent = `The user list could not be loaded: ${(error as Error).message}`;
  }
};
