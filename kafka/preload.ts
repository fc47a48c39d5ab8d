/**
 * Imported first by pageloop's entry points, before anything loads kafkajs:
 * the one change to kafkajs that must be in place when kafkajs loads (see
 * installLinearGrouping in kafka/produce-encoder.ts). Only speed
 * depends on it; kafkajs behaves the same either way.
 */
import { installLinearGrouping } from './produce-encoder.js';

installLinearGrouping();
