// The alarms page: flash and sound for new unacknowledged critical alarms, with Silence.
// Rows to announce carry data-sound-key (one activation of one alarm). A key is "new"
// until silenced; silenced keys are kept in sessionStorage, so a reload or the next
// poll of the list does not sound them again. The sound is made here (Web Audio API),
// and only once the user has interacted with the page (browsers block audio before).
// The state is on <body data-alarm-sound="idle|waiting|playing|silenced|unavailable">,
// and <body data-alarm-beeps="n"> counts the beeps played.
(function () {
  "use strict";

  var STORE = "hub.alarms.silenced";
  var KEEP = 500; // silenced keys remembered
  var EVERY_MS = 2500; // a beep while something sounds
  var AudioCtor = window.AudioContext || window.webkitAudioContext;
  var MESSAGES = {
    idle: "No new critical alarm.",
    waiting: "New critical alarm. Sound is held until you click or press a key on this page (the browser blocks it before).",
    playing: "Sounding: new critical alarm. Press Silence to stop the sound.",
    silenced: "Silenced for the critical alarms shown; a new one sounds again.",
    unavailable: "New critical alarm. This browser cannot play sound; the row flashes."
  };
  var interacted = false;
  var audio = null;
  var timer = null;
  var state = null;

  function panel() {
    return document.querySelector("[data-alarm-sound-panel]");
  }

  function silenced() {
    try {
      var list = JSON.parse(window.sessionStorage.getItem(STORE) || "[]");
      return Array.isArray(list) ? list : [];
    } catch (e) {
      return [];
    }
  }

  function remember(keys) {
    var list = silenced();
    keys.forEach(function (key) {
      if (list.indexOf(key) < 0) {
        list.push(key);
      }
    });
    try {
      window.sessionStorage.setItem(STORE, JSON.stringify(list.slice(-KEEP)));
    } catch (e) {
      // storage full or disabled: silenced for this page only
    }
  }

  function announced() {
    return Array.prototype.slice.call(document.querySelectorAll("tr[data-sound-key]"));
  }

  function beep() {
    if (!audio) {
      return;
    }
    if (audio.state === "suspended") {
      audio.resume();
    }
    var start = audio.currentTime + 0.01;
    [880, 660].forEach(function (hz, i) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      var at = start + i * 0.18;
      osc.type = "square";
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(at);
      osc.stop(at + 0.17);
    });
    var body = document.body;
    body.dataset.alarmBeeps = String(Number(body.dataset.alarmBeeps || "0") + 1);
  }

  function setState(next) {
    var body = document.body;
    if (next === "playing" && !timer) {
      beep();
      timer = window.setInterval(beep, EVERY_MS);
    } else if (next !== "playing" && timer) {
      window.clearInterval(timer);
      timer = null;
    }
    if (next === state) {
      return;
    }
    state = next;
    body.dataset.alarmSound = next;
    var status = document.getElementById("alarm-sound-status");
    if (status) {
      status.textContent = MESSAGES[next];
    }
  }

  function refresh() {
    if (!panel()) {
      return;
    }
    var quiet = silenced();
    var rows = announced();
    var fresh = false;
    rows.forEach(function (row) {
      var isNew = quiet.indexOf(row.dataset.soundKey) < 0;
      row.classList.toggle("alarm-row--flash", isNew);
      fresh = fresh || isNew;
    });
    if (!fresh) {
      setState(rows.length ? "silenced" : "idle");
    } else if (!AudioCtor) {
      setState("unavailable");
    } else if (!interacted) {
      setState("waiting");
    } else {
      setState("playing");
    }
  }

  function silence() {
    remember(announced().map(function (row) { return row.dataset.soundKey; }));
    refresh();
  }

  // The first click or key press on the page unlocks audio (made inside the gesture).
  function unlock(event) {
    if (interacted) {
      return;
    }
    interacted = true;
    document.body.dataset.alarmInteracted = "true";
    if (AudioCtor && !audio) {
      try {
        audio = new AudioCtor();
        if (audio.state === "suspended") {
          audio.resume();
        }
      } catch (e) {
        AudioCtor = null;
      }
    }
    // A press of Silence itself must not start the sound it is about to stop.
    var target = event && event.target;
    if (!(target instanceof Element && target.closest("[data-alarm-silence]"))) {
      refresh();
    }
  }

  document.addEventListener("pointerdown", unlock, true);
  document.addEventListener("keydown", unlock, true);
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target instanceof Element && target.closest("[data-alarm-silence]")) {
      silence();
    }
  });
  // Every swap of the polled list (and of anything else) re-checks what is shown.
  document.addEventListener("htmx:afterSettle", refresh);

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", refresh);
  } else {
    refresh();
  }
})();
