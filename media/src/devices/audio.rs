//! Microphones and speakers through cpal. Each stream lives on its own
//! thread (cpal streams must stay where they were built); samples cross
//! bounded queues, downmixed to mono and resampled to 48 kHz.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use crate::audio_codec::SAMPLE_RATE;
use crate::source::{AudioSink, AudioSource};
use crate::{DeviceKind, MediaError, Result};

pub(super) fn devices(kind: DeviceKind) -> Result<Vec<String>> {
    let host = cpal::default_host();
    let devices: Vec<cpal::Device> = if kind == DeviceKind::Microphone {
        host.input_devices().map_err(|e| MediaError::unavailable(kind, e))?.collect()
    } else {
        host.output_devices().map_err(|e| MediaError::unavailable(kind, e))?.collect()
    };
    // ALSA lists a "null" device (silence in, nothing out) even with no sound
    // card; a device whose default config fails cannot play or record anything.
    Ok(devices
        .iter()
        .filter(|d| !is_null_device(d) && audio_config(d, kind).is_ok())
        .filter_map(device_name)
        .collect())
}

fn is_null_device(device: &cpal::Device) -> bool {
    device.id().is_ok_and(|id| id.id() == "null")
}

fn device_name(device: &cpal::Device) -> Option<String> {
    device.description().ok().map(|d| d.name().to_owned())
}

fn audio_config(device: &cpal::Device, kind: DeviceKind) -> Result<cpal::SupportedStreamConfig> {
    let config = if kind == DeviceKind::Microphone {
        device.default_input_config()
    } else {
        device.default_output_config()
    };
    config.map_err(|e| MediaError::unavailable(kind, e))
}

fn find_audio_device(
    kind: DeviceKind,
    name: Option<&str>,
) -> Result<(cpal::Device, cpal::SupportedStreamConfig)> {
    let host = cpal::default_host();
    let device = match name {
        None => if kind == DeviceKind::Microphone {
            host.default_input_device()
        } else {
            host.default_output_device()
        }
        .ok_or_else(|| MediaError::unavailable(kind, format!("no {kind} found")))?,
        Some(name) => {
            let mut devices: Vec<cpal::Device> = if kind == DeviceKind::Microphone {
                host.input_devices().map_err(|e| MediaError::unavailable(kind, e))?.collect()
            } else {
                host.output_devices().map_err(|e| MediaError::unavailable(kind, e))?.collect()
            };
            let index = devices
                .iter()
                .position(|d| !is_null_device(d) && device_name(d).as_deref() == Some(name))
                .ok_or_else(|| MediaError::NoSuchDevice { kind, name: name.to_owned() })?;
            devices.swap_remove(index)
        }
    };
    let config = audio_config(&device, kind)?;
    Ok((device, config))
}

/// A cpal input stream, downmixed to mono and resampled to 48 kHz.
pub struct MicrophoneSource {
    name: String,
    chunks: Receiver<Result<Vec<f32>>>,
    pending: VecDeque<f32>,
    stop: Arc<AtomicBool>,
}

impl MicrophoneSource {
    /// Opens a microphone by name (`None`: the default one).
    pub fn open(name: Option<&str>) -> Result<Self> {
        let kind = DeviceKind::Microphone;
        let (device, config) = find_audio_device(kind, name)?;
        let name = device_name(&device).unwrap_or_else(|| "microphone".to_owned());
        let (tx, chunks) = sync_channel::<Result<Vec<f32>>>(50);
        let (opened_tx, opened) = sync_channel(1);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("concord-microphone".into())
            .spawn(move || {
                let channels = usize::from(config.channels()).max(1);
                let mut resampler = Resampler::new(config.sample_rate(), SAMPLE_RATE);
                let data_tx = tx.clone();
                let stream = device.build_input_stream::<f32, _, _>(
                    config.config(),
                    move |data, _| {
                        let mono = data.chunks(channels).map(|f| f.iter().sum::<f32>() / channels as f32);
                        let mut out = Vec::with_capacity(data.len() / channels + 2);
                        resampler.push(mono, &mut out);
                        let _ = data_tx.try_send(Ok(out));
                    },
                    move |e| {
                        let _ = tx
                            .try_send(Err(MediaError::unavailable(kind, format!("microphone stopped: {e}"))));
                    },
                    None,
                );
                keep_playing(stream, kind, &opened_tx, &thread_stop);
            })
            .map_err(|e| MediaError::unavailable(kind, e))?;
        super::wait_opened(&opened, kind)?;
        Ok(Self { name, chunks, pending: VecDeque::new(), stop })
    }
}

impl AudioSource for MicrophoneSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn read_frame(&mut self, frame: &mut [f32]) -> Result<()> {
        while self.pending.len() < frame.len() {
            match self.chunks.recv_timeout(Duration::from_secs(2)) {
                Ok(chunk) => self.pending.extend(chunk?),
                Err(_) => {
                    return Err(MediaError::unavailable(
                        DeviceKind::Microphone,
                        "the microphone sent nothing for 2 s",
                    ))
                }
            }
        }
        let wanted = frame.len();
        for (out, sample) in frame.iter_mut().zip(self.pending.drain(..wanted)) {
            *out = sample;
        }
        Ok(())
    }

    fn is_realtime(&self) -> bool {
        true
    }
}

impl Drop for MicrophoneSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A cpal output stream fed from a short queue (at most 200 ms ahead).
pub struct SpeakerSink {
    queue: Arc<Mutex<VecDeque<f32>>>,
    stop: Arc<AtomicBool>,
}

impl SpeakerSink {
    /// Opens a speaker by name (`None`: the default one).
    pub fn open(name: Option<&str>) -> Result<Self> {
        let kind = DeviceKind::Speaker;
        let (device, config) = find_audio_device(kind, name)?;
        let queue: Arc<Mutex<VecDeque<f32>>> = Arc::default();
        let (opened_tx, opened) = sync_channel(1);
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_queue, thread_stop) = (Arc::clone(&queue), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("concord-speaker".into())
            .spawn(move || {
                let channels = usize::from(config.channels()).max(1);
                let step = SAMPLE_RATE as f64 / f64::from(config.sample_rate().max(1));
                let mut position = 0.0f64;
                let stream = device.build_output_stream::<f32, _, _>(
                    config.config(),
                    move |out, _| {
                        let mut queue = thread_queue.lock().unwrap_or_else(PoisonError::into_inner);
                        for frame in out.chunks_mut(channels) {
                            frame.fill(queue.front().copied().unwrap_or(0.0));
                            position += step;
                            while position >= 1.0 {
                                queue.pop_front();
                                position -= 1.0;
                            }
                        }
                    },
                    |e| tracing::warn!(%e, "speaker output error"),
                    None,
                );
                keep_playing(stream, kind, &opened_tx, &thread_stop);
            })
            .map_err(|e| MediaError::unavailable(kind, e))?;
        super::wait_opened(&opened, kind)?;
        Ok(Self { queue, stop })
    }
}

impl AudioSink for SpeakerSink {
    fn play(&mut self, frame: &[f32]) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.extend(frame.iter().copied());
        let limit = SAMPLE_RATE as usize / 5;
        if queue.len() > limit {
            let excess = queue.len() - limit;
            queue.drain(..excess);
        }
    }
}

impl Drop for SpeakerSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts a built stream and keeps it alive on this (its own) thread until
/// `stop`; `opened` learns whether it started.
fn keep_playing(
    stream: std::result::Result<cpal::Stream, cpal::Error>,
    kind: DeviceKind,
    opened: &SyncSender<Result<()>>,
    stop: &AtomicBool,
) {
    let started = stream
        .map_err(|e| MediaError::unavailable(kind, e))
        .and_then(|stream| stream.play().map(|()| stream).map_err(|e| MediaError::unavailable(kind, e)));
    match started {
        Ok(_stream) => {
            let _ = opened.send(Ok(()));
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Err(error) => {
            let _ = opened.send(Err(error));
        }
    }
}

/// Linear-interpolation resampler for device rates other than 48 kHz.
struct Resampler {
    step: f64,
    position: f64,
    previous: f32,
}

impl Resampler {
    fn new(from: u32, to: u32) -> Self {
        Self { step: f64::from(from.max(1)) / f64::from(to.max(1)), position: 0.0, previous: 0.0 }
    }

    fn push(&mut self, input: impl Iterator<Item = f32>, out: &mut Vec<f32>) {
        for sample in input {
            while self.position < 1.0 {
                let t = self.position as f32;
                out.push(self.previous + (sample - self.previous) * t);
                self.position += self.step;
            }
            self.position -= 1.0;
            self.previous = sample;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_44100_to_48000_keeps_duration() {
        let mut resampler = Resampler::new(44_100, 48_000);
        let mut out = Vec::new();
        resampler.push(std::iter::repeat_n(0.5, 44_100), &mut out);
        assert!((out.len() as i64 - 48_000).abs() <= 2, "{}", out.len());
    }
}
