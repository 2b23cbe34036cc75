// The chat and whiteboard demo: one SharedObject beside a live player.

import { NetConnection, NetStream, SharedObject } from '/pkg/index.js';

const $ = (id) => document.getElementById(id);
const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/live`;
const board = $('board');
const pen = board.getContext('2d');
$('nick').value = `guest${Math.floor(Math.random() * 1000)}`;

const nc = new NetConnection();
nc.client = { onBWDone() {} };
const so = SharedObject.getRemote('room', url, false);
// A stroke being drawn sets its slot on every move; this sends at most 10 requests a second.
so.fps = 10;
so.client = {
  onChat(who, text) {
    const line = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'who';
    name.textContent = String(who);
    line.append(name, String(text));
    $('lines').append(line);
    line.scrollIntoView({ block: 'nearest' });
  },
};
so.addEventListener('sync', draw);
so.addEventListener('netStatus', (event) => ($('state').textContent = event.info.code));
window.chat = { nc, so };

nc.addEventListener('netStatus', (event) => {
  $('state').textContent = event.info.code;
  if (event.info.code === 'NetConnection.Connect.Success') {
    so.connect(nc);
    play();
  }
});
nc.connect(url);

let ns = null;
function play() {
  ns?.close();
  ns = new NetStream(nc);
  ns.attachMediaElement($('video'));
  ns.play($('stream').value);
}
$('play').onclick = () => nc.connected && play();

$('say').onsubmit = (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (text) {
    so.send('onChat', $('nick').value, text);
    $('text').value = '';
  }
};

/** Every stroke slot, drawn again: a slot is {colour, points: [x0, y0, x1, y1, ...]}. */
function draw() {
  pen.clearRect(0, 0, board.width, board.height);
  pen.lineWidth = 3;
  pen.lineCap = pen.lineJoin = 'round';
  for (const [slot, stroke] of Object.entries(so.data)) {
    const points = stroke?.points;
    if (!slot.startsWith('stroke') || !Array.isArray(points) || points.length < 2) {
      continue;
    }
    pen.strokeStyle = typeof stroke.colour === 'string' ? stroke.colour : '#000';
    pen.beginPath();
    pen.moveTo(points[0], points[1]);
    for (let i = 2; i + 1 < points.length; i += 2) {
      pen.lineTo(points[i], points[i + 1]);
    }
    pen.stroke();
  }
}

let stroke = null;
const at = (event) => {
  const box = board.getBoundingClientRect();
  return [Math.round(((event.clientX - box.left) * board.width) / box.width), Math.round(((event.clientY - box.top) * board.height) / box.height)];
};
board.onpointerdown = (event) => {
  board.setPointerCapture(event.pointerId);
  stroke = { slot: `stroke${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`, colour: $('colour').value, points: at(event) };
};
board.onpointermove = (event) => {
  if (stroke && stroke.points.length < 2000) {
    stroke.points.push(...at(event));
    // Each move sets the slot; fps sends the latest at most 10 times a second.
    so.setProperty(stroke.slot, { colour: stroke.colour, points: stroke.points });
    draw();
  }
};
board.onpointerup = board.onpointercancel = () => (stroke = null);
$('wipe').onclick = () => {
  for (const slot of Object.keys(so.data)) {
    if (slot.startsWith('stroke')) {
      so.setProperty(slot, null);
    }
  }
  draw();
};
