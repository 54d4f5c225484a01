// The content types are the API's: read from its OpenAPI document, never
// listed here. Fetched once; a select fills when the document arrives.
import { request } from "./api.js";
import { el } from "./dom.js";

const types = request("GET", "/openapi.json")
  .then((document) => document.components.schemas.ContentType.enum);

export function typeOptions(select, selected) {
  const option = (type) => {
    const node = el("option", { value: type }, type);
    node.selected = type === selected;
    return node;
  };
  // Until the list arrives, an item being edited keeps its own type.
  if (selected) select.replaceChildren(option(selected));
  // Without the list the select stays as it is and the API names what is missing.
  types.then((list) => select.replaceChildren(...list.map(option)), () => {});
}
