/* The admin lists' filters when they sit above or below the list (payments/admin-responsive.css: on a phone, and up
 * to 1439 px with the side navigation open): each filter group starts closed, so the list is in view, unless one of
 * its choices other than the first ("All") is selected or the user opened it before (Django's filters.js keeps
 * that in sessionStorage). Wide screens keep Django's open side column.
 */
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  const filter = document.getElementById("changelist-filter");
  if (!filter) {
    return;
  }
  const main = document.getElementById("main");
  const phone = window.matchMedia("(max-width: 767px)").matches;
  const stacked = window.matchMedia("(min-width: 768px) and (max-width: 1439px)").matches
    && main !== null && main.classList.contains("shifted");
  if (!phone && !stacked) {
    return;
  }
  let saved = {};
  try {
    saved = JSON.parse(sessionStorage.getItem("django.admin.filtersState")) || {};
  } catch (error) {
    saved = {};
  }
  filter.querySelectorAll("details[data-filter-title]").forEach(function (group) {
    const selected = group.querySelector("li.selected");
    const narrowed = selected !== null && selected !== group.querySelector("li");
    if (!narrowed && saved[group.dataset.filterTitle] !== true) {
      group.removeAttribute("open");
    }
  });
});
