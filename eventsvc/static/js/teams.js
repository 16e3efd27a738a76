/* eventsvc teams: drag and drop on the organizer's team page.
 *
 * A progressive enhancement only: dropping a person on another team fills in the page's
 * own "move" form and submits it; dropping them on a person of another team fills in the
 * "swap" form. Without JavaScript (or with a keyboard) the same forms are used directly,
 * so the server sees exactly the same requests either way.
 */
'use strict';

(function () {
  var grid = document.querySelector('[data-teams]');
  var moveForm = document.getElementById('move-form');
  var swapForm = document.getElementById('swap-form');
  if (!grid || !moveForm || !swapForm) { return; }

  var hint = document.querySelector('[data-teams-hint]');
  if (hint) { hint.hidden = false; }

  var dragged = null;

  function submit(form) {
    if (typeof form.requestSubmit === 'function') { form.requestSubmit(); }
    else { HTMLFormElement.prototype.submit.call(form); }
  }

  function choose(form, name, value) {
    var select = form.querySelector('select[name="' + name + '"]');
    if (!select) { return false; }
    var ok = Array.prototype.some.call(select.options, function (o) { return o.value === value; });
    if (ok) { select.value = value; }
    return ok;
  }

  function teamOf(el) {
    var box = el && el.closest('[data-team]');
    return box ? box.getAttribute('data-team') : null;
  }

  function clearTargets() {
    Array.prototype.forEach.call(document.querySelectorAll('.is-drop-target'), function (el) {
      el.classList.remove('is-drop-target');
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll('.team-member[data-registration]'), function (item) {
    item.setAttribute('draggable', 'true');
    item.addEventListener('dragstart', function (ev) {
      dragged = item;
      item.classList.add('is-dragging');
      ev.dataTransfer.effectAllowed = 'move';
      ev.dataTransfer.setData('text/plain', item.getAttribute('data-registration'));
    });
    item.addEventListener('dragend', function () {
      item.classList.remove('is-dragging');
      clearTargets();
      dragged = null;
    });
  });

  Array.prototype.forEach.call(grid.querySelectorAll('[data-team]'), function (box) {
    box.addEventListener('dragover', function (ev) {
      if (!dragged || teamOf(dragged) === box.getAttribute('data-team')) { return; }
      ev.preventDefault();
      ev.dataTransfer.dropEffect = 'move';
      clearTargets();
      var over = ev.target.closest('.team-member[data-registration]');
      (over && teamOf(dragged) !== 'out' ? over : box).classList.add('is-drop-target');
    });
    box.addEventListener('dragleave', function (ev) {
      if (!box.contains(ev.relatedTarget)) { clearTargets(); }
    });
    box.addEventListener('drop', function (ev) {
      ev.preventDefault();
      clearTargets();
      if (!dragged) { return; }
      var who = dragged.getAttribute('data-registration');
      var team = box.getAttribute('data-team');
      var over = ev.target.closest('.team-member[data-registration]');
      if (over && over !== dragged && teamOf(dragged) !== 'out' &&
          choose(swapForm, 'swap-first', who) && choose(swapForm, 'swap-second', over.getAttribute('data-registration'))) {
        submit(swapForm);
        return;
      }
      if (choose(moveForm, 'move-registration', who) && choose(moveForm, 'move-team', team)) {
        submit(moveForm);
      }
    });
  });
}());
