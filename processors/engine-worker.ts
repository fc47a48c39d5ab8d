/**
 * The worker thread of processors/engine-host.ts: the partition engines,
 * one operation at a time, in the order the runner asks for them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serveEngines, type HostRequest, type WorkerSetup } from './engine-host.js';

const port = parentPort;
if (!port) throw new Error('engine-worker.js runs as a worker thread of the processors');
const serve = serveEngines(workerData as WorkerSetup, (reply, transfer) => port.postMessage(reply, transfer));
port.on('message', (req: HostRequest) => serve(req));
