// A small EventEmitter for bundled code that requires Node's `events` at load time
// (xmlbuilder2's callback builder, reached through vtk.js); the page itself never emits.
export class EventEmitter {
  constructor() { this._listeners = new Map(); }
  on(name, fn) { (this._listeners.get(name) || this._listeners.set(name, []).get(name)).push(fn); return this; }
  addListener(name, fn) { return this.on(name, fn); }
  once(name, fn) { const once = (...a) => { this.off(name, once); fn(...a); }; return this.on(name, once); }
  off(name, fn) { this._listeners.set(name, (this._listeners.get(name) || []).filter((f) => f !== fn)); return this; }
  removeListener(name, fn) { return this.off(name, fn); }
  emit(name, ...args) { const list = this._listeners.get(name) || []; list.slice().forEach((f) => f(...args)); return list.length > 0; }
}
export default EventEmitter;
