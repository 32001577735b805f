//! Microphones and speakers through cpal. Each stream lives on its own
//! thread (cpal streams must stay where they were built); samples cross a
//! lock-free ring (`rtrb`), so the real-time callbacks never lock or
//! allocate. Audio is mono at 48 kHz on our side of the ring; rubato
//! converts from and to the device's rate (`crate::resample`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use crate::audio_codec::SAMPLE_RATE;
use crate::resample::StreamResampler;
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

/// A cpal input stream, downmixed to mono and resampled to 48 kHz. The
/// callback only downmixes into a lock-free ring (no lock, no allocation);
/// resampling happens on the reader's thread.
pub struct MicrophoneSource {
    name: String,
    samples: rtrb::Consumer<f32>,
    errors: Receiver<MediaError>,
    resampler: StreamResampler,
    raw: Vec<f32>,
    pending: VecDeque<f32>,
    stop: Arc<AtomicBool>,
}

impl MicrophoneSource {
    /// Opens a microphone by name (`None`: the default one).
    pub fn open(name: Option<&str>) -> Result<Self> {
        let kind = DeviceKind::Microphone;
        let (device, config) = find_audio_device(kind, name)?;
        let name = device_name(&device).unwrap_or_else(|| "microphone".to_owned());
        let resampler = StreamResampler::new(config.sample_rate(), SAMPLE_RATE)?;
        // One second of the device's audio: the reader drains it every 20 ms.
        let (mut producer, samples) = rtrb::RingBuffer::<f32>::new(config.sample_rate().max(8_000) as usize);
        let (errors_tx, errors) = sync_channel::<MediaError>(1);
        let (opened_tx, opened) = sync_channel(1);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("concord-microphone".into())
            .spawn(move || {
                let channels = usize::from(config.channels()).max(1);
                let stream = device.build_input_stream::<f32, _, _>(
                    config.config(),
                    move |data, _| {
                        for frame in data.chunks(channels) {
                            // A full ring means the reader stalled: drop rather than wait.
                            let _ = producer.push(frame.iter().sum::<f32>() / channels as f32);
                        }
                    },
                    move |e| {
                        let _ = errors_tx
                            .try_send(MediaError::unavailable(kind, format!("microphone stopped: {e}")));
                    },
                    None,
                );
                keep_playing(stream, kind, &opened_tx, &thread_stop);
            })
            .map_err(|e| MediaError::unavailable(kind, e))?;
        super::wait_opened(&opened, kind)?;
        Ok(Self { name, samples, errors, resampler, raw: Vec::new(), pending: VecDeque::new(), stop })
    }

    /// Moves what the callback captured through the resampler into `pending`.
    fn drain_ring(&mut self) {
        let available = self.samples.slots();
        if available == 0 {
            return;
        }
        self.raw.clear();
        if let Ok(chunk) = self.samples.read_chunk(available) {
            self.raw.extend(chunk);
        }
        self.resampler.push(&self.raw, &mut self.pending);
    }
}

impl AudioSource for MicrophoneSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn read_frame(&mut self, frame: &mut [f32]) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            self.drain_ring();
            if self.pending.len() >= frame.len() {
                break;
            }
            if let Ok(error) = self.errors.try_recv() {
                return Err(error);
            }
            if Instant::now() >= deadline {
                return Err(MediaError::unavailable(
                    DeviceKind::Microphone,
                    "the microphone sent nothing for 2 s",
                ));
            }
            // The callback cannot wake us without a syscall of its own: poll.
            std::thread::sleep(Duration::from_millis(2));
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

/// A cpal output stream fed through a lock-free ring holding at most
/// 200 ms; the caller's thread resamples from 48 kHz to the device's rate,
/// the callback only copies samples out (silence when the ring runs dry).
pub struct SpeakerSink {
    samples: rtrb::Producer<f32>,
    resampler: StreamResampler,
    converted: Vec<f32>,
    stop: Arc<AtomicBool>,
}

impl SpeakerSink {
    /// Opens a speaker by name (`None`: the default one).
    pub fn open(name: Option<&str>) -> Result<Self> {
        let kind = DeviceKind::Speaker;
        let (device, config) = find_audio_device(kind, name)?;
        let resampler = StreamResampler::new(SAMPLE_RATE, config.sample_rate())?;
        let (samples, mut consumer) =
            rtrb::RingBuffer::<f32>::new(config.sample_rate().max(8_000) as usize / 5);
        let (opened_tx, opened) = sync_channel(1);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("concord-speaker".into())
            .spawn(move || {
                let channels = usize::from(config.channels()).max(1);
                let stream = device.build_output_stream::<f32, _, _>(
                    config.config(),
                    move |out, _| {
                        for frame in out.chunks_mut(channels) {
                            frame.fill(consumer.pop().unwrap_or(0.0));
                        }
                    },
                    |e| tracing::warn!(%e, "speaker output error"),
                    None,
                );
                keep_playing(stream, kind, &opened_tx, &thread_stop);
            })
            .map_err(|e| MediaError::unavailable(kind, e))?;
        super::wait_opened(&opened, kind)?;
        Ok(Self { samples, resampler, converted: Vec::new(), stop })
    }
}

impl AudioSink for SpeakerSink {
    fn play(&mut self, frame: &[f32]) {
        self.converted.clear();
        self.resampler.push(frame, &mut self.converted);
        // More than 200 ms ahead: the part that does not fit is dropped
        // instead of growing the delay.
        let _ = self.samples.push_partial_slice(&self.converted);
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
